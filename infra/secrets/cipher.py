"""EnvelopeCipher (SecretCipher port): AES-256-GCM under an organization's data key.

A token is `v1.<data key id>.<base64 nonce+ciphertext+tag>`: the data key id beside the
ciphertext says which data key (and, through the key ring, which key-encryption key) opens it.
The associated data is (organization, the caller's `associated`), so a token moved to another
organization, key, repository or agent fails to decrypt."""

from __future__ import annotations

import base64
import binascii
import os
import threading
import uuid
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.secrets.keyring import KeyRing
from domain.shared.values import Actor
from infra.secrets.keys import NONCE_BYTES, KeyEncryptionKeys

VERSION = "v1"


class KeyRings(Protocol):
    """Where data keys are kept (the secrets application)."""

    def keyring(self, org_id: str) -> KeyRing | None: ...

    def start_keyring(
        self, org_id: str, data_key_id: str, kek_id: str, wrapped: str
    ) -> KeyRing: ...

    def rewrap(self, org_id: str, wrapped: dict[str, tuple[str, str]], actor: Actor) -> int: ...


def _wrap_context(org_id: str, data_key_id: str) -> bytes:
    return f"tilde-data-key\0{org_id}\0{data_key_id}".encode()


def _value_context(org_id: str, associated: bytes) -> bytes:
    return f"tilde-value\0{org_id}\0".encode() + associated


class EnvelopeCipher:
    """Encrypts with the organization's current data key; data keys are unwrapped once per
    process and kept in memory (a re-wrap does not change them, so the cache stays right)."""

    def __init__(self, rings: KeyRings, keks: KeyEncryptionKeys) -> None:
        self.rings = rings
        self.keks = keks
        self._lock = threading.Lock()
        self._data_keys: dict[str, AESGCM] = {}  # data key id -> its AEAD
        self._current: dict[str, str] = {}  # org id -> current data key id

    # -- the port -------------------------------------------------------------------------
    def encrypt(self, org_id: str, plaintext: bytes, associated: bytes) -> str:
        data_key_id = self._current.get(org_id) or self._current_key(org_id)
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead(org_id, data_key_id).encrypt(
            nonce, plaintext, _value_context(org_id, associated)
        )
        return f"{VERSION}.{data_key_id}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, org_id: str, token: str, associated: bytes) -> bytes:
        try:
            version, data_key_id, body = token.split(".")
            blob = base64.urlsafe_b64decode(body)
        except (ValueError, binascii.Error):
            raise ValueError("not a ciphertext token") from None
        if version != VERSION or len(blob) < NONCE_BYTES + 16:
            raise ValueError("not a ciphertext token")
        try:
            aead = self._aead(org_id, data_key_id)
            return aead.decrypt(
                blob[:NONCE_BYTES], blob[NONCE_BYTES:], _value_context(org_id, associated)
            )
        except (InvalidTag, LookupError):
            raise ValueError("the ciphertext was not made for this owner") from None

    # -- data keys ------------------------------------------------------------------------
    def _current_key(self, org_id: str) -> str:
        ring = self.rings.keyring(org_id)
        if ring is None:
            data_key = AESGCM.generate_key(bit_length=256)
            data_key_id = "dk-" + uuid.uuid4().hex
            kek_id, wrapped = self.keks.wrap(data_key, _wrap_context(org_id, data_key_id))
            ring = self.rings.start_keyring(org_id, data_key_id, kek_id, wrapped)
            if ring.current == data_key_id:
                with self._lock:
                    self._data_keys[data_key_id] = AESGCM(data_key)
        with self._lock:
            self._current[org_id] = ring.current
        return ring.current

    def _aead(self, org_id: str, data_key_id: str) -> AESGCM:
        aead = self._data_keys.get(data_key_id)
        if aead is not None:
            return aead
        ring = self.rings.keyring(org_id)
        if ring is None or data_key_id not in ring.keys:
            raise LookupError(f"no data key {data_key_id} in this organization")
        kek_id, wrapped = ring.keys[data_key_id]
        try:
            data_key = self.keks.unwrap(kek_id, wrapped, _wrap_context(org_id, data_key_id))
        except InvalidTag:
            raise LookupError(f"data key {data_key_id} does not unwrap") from None
        aead = AESGCM(data_key)
        with self._lock:
            self._data_keys[data_key_id] = aead
        return aead

    # -- rotation -------------------------------------------------------------------------
    def rewrap_organization(self, org_id: str, actor: Actor) -> int:
        """Wrap every data key of `org_id` not yet under the current key-encryption key again
        under it; ciphertexts are untouched (their data keys do not change)."""
        ring = self.rings.keyring(org_id)
        if ring is None:
            return 0
        current = self.keks.current_id
        wrapped = {}
        for data_key_id in ring.stale(current):
            kek_id, blob = ring.keys[data_key_id]
            context = _wrap_context(org_id, data_key_id)
            data_key = self.keks.unwrap(kek_id, blob, context)
            wrapped[data_key_id] = self.keks.wrap(data_key, context)
        return self.rings.rewrap(org_id, wrapped, actor) if wrapped else 0
