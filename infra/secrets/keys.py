"""Key-encryption keys (KEKs): the current one wraps data keys, retired ones still unwrap them.

`TILDE_SECRETS_KEY` (base64 of 32 bytes) is the current key; `TILDE_SECRETS_PREVIOUS_KEYS`
(comma-separated) are retired ones kept until `tilde-server secrets rotate-key` has re-wrapped
every data key. When `TILDE_SECRETS_KEY` is empty the keys live in the data directory
(`secrets.key`, generated on first start, and `secrets.previous-keys`), like `secret.key`."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_FILE = "secrets.key"
PREVIOUS_FILE = "secrets.previous-keys"
NONCE_BYTES = 12


class SecretsKeyError(Exception):
    """A key-encryption key is malformed or missing (a configuration error)."""


def new_key() -> str:
    """A fresh key-encryption key: base64 of 32 random bytes."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def parse_key(text: str) -> bytes:
    """The 32 bytes of a base64 (standard or URL-safe) key; the error never quotes the key."""
    cleaned = text.strip()
    try:
        raw = base64.b64decode(
            cleaned.replace("-", "+").replace("_", "/") + "=" * (-len(cleaned) % 4),
            validate=True,
        )
    except (binascii.Error, ValueError):
        raise SecretsKeyError("a secrets key must be base64 of 32 bytes (not base64)") from None
    if len(raw) != 32:
        raise SecretsKeyError(
            f"a secrets key must be base64 of 32 bytes (it decodes to {len(raw)})"
        )
    return raw


def key_id(raw: bytes) -> str:
    """A key's public name: a digest prefix that identifies it without revealing it."""
    return "kek-" + hashlib.sha256(b"tilde-kek\0" + raw).hexdigest()[:16]


def _write_private(path: Path, text: str) -> None:
    """Atomically replace `path` with `text`, readable by the owner only."""
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_or_create_key_file(data_dir: Path) -> str:
    """The embedded mode's key, generated once into the data directory (0600)."""
    path = data_dir / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.new")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(new_key())
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)  # the first process wins; the others read its key
        tmp.unlink()
    return path.read_text().strip()


@dataclass(frozen=True)
class KeySource:
    """Where the keys come from: settings, or files in the data directory."""

    configured: str
    previous: str
    data_dir: Path

    @property
    def from_files(self) -> bool:
        return not self.configured.strip()

    def read(self) -> tuple[bytes, list[bytes]]:
        if self.from_files:
            current = load_or_create_key_file(self.data_dir)
            path = self.data_dir / PREVIOUS_FILE
            previous = path.read_text().split() if path.exists() else []
        else:
            current, previous = self.configured, self.previous.replace(",", " ").split()
        return parse_key(current), [parse_key(p) for p in previous]

    def install(self, key: str) -> None:
        """Make `key` current in the data directory, keeping the old one as previous."""
        if not self.from_files:
            raise SecretsKeyError(
                "TILDE_SECRETS_KEY is set: change it in the configuration instead"
            )
        parse_key(key)
        old = load_or_create_key_file(self.data_dir)
        path = self.data_dir / PREVIOUS_FILE
        previous = path.read_text().split() if path.exists() else []
        if old not in previous:
            _write_private(path, "\n".join([*previous, old]) + "\n")
        _write_private(self.data_dir / KEY_FILE, key + "\n")


class KeyEncryptionKeys:
    """Wraps data keys under the current KEK; unwraps under any known one. Meeting a key id it
    does not know (another process rotated the files), it reads its source again once."""

    def __init__(self, source: KeySource) -> None:
        self.source = source
        self._lock = threading.Lock()
        self._load()

    def _load(self) -> None:
        self._stamp = self._files_stamp()
        current, previous = self.source.read()
        self.current_id = key_id(current)
        self._keys = {key_id(k): AESGCM(k) for k in [*previous, current]}

    def _files_stamp(self) -> tuple[int, ...]:
        """When the key files last changed (embedded mode): a rotation by the CLI while this
        process runs makes its next wrap use the new key."""
        if not self.source.from_files:
            return ()
        stamps = []
        for name in (KEY_FILE, PREVIOUS_FILE):
            try:
                stamps.append((self.source.data_dir / name).stat().st_mtime_ns)
            except FileNotFoundError:
                stamps.append(0)
        return tuple(stamps)

    @property
    def known_ids(self) -> list[str]:
        return list(self._keys)

    def reload(self) -> None:
        with self._lock:
            self._load()

    def wrap(self, data_key: bytes, associated: bytes) -> tuple[str, str]:
        """(kek id, base64 nonce+ciphertext) of `data_key` under the current key."""
        if self._files_stamp() != self._stamp:
            self.reload()
        kek_id = self.current_id
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[kek_id].encrypt(nonce, data_key, associated)
        return kek_id, base64.b64encode(nonce + sealed).decode()

    def unwrap(self, kek_id: str, wrapped: str, associated: bytes) -> bytes:
        if kek_id not in self._keys:
            self.reload()
        aead = self._keys.get(kek_id)
        if aead is None:
            raise SecretsKeyError(
                f"data key wrapped under unknown key-encryption key {kek_id}: add the old key "
                "to TILDE_SECRETS_PREVIOUS_KEYS (or secrets.previous-keys)"
            )
        blob = base64.b64decode(wrapped)
        return aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated)
