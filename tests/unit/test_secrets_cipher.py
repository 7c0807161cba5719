"""The envelope cipher: AES-256-GCM bound to its owner, data keys wrapped by the
key-encryption key, and key rotation that re-wraps data keys without touching a ciphertext."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from application.secrets.app import SecretsApplication
from domain.secrets.keyring import KeyRing
from domain.shared.values import Actor
from infra.secrets.cipher import EnvelopeCipher
from infra.secrets.keys import (
    KEY_FILE,
    KeyEncryptionKeys,
    KeySource,
    SecretsKeyError,
    key_id,
    new_key,
    parse_key,
)

AD = b"secret\0repository\0r1\0API_KEY"


def files(tmp_path: Path) -> KeySource:
    return KeySource("", "", tmp_path)


def cipher_on(app: SecretsApplication, source: KeySource) -> EnvelopeCipher:
    cipher = EnvelopeCipher(app, KeyEncryptionKeys(source))
    app.cipher = cipher
    return cipher


def test_round_trip_and_every_wrong_owner_fails(tmp_path: Path) -> None:
    cipher = cipher_on(SecretsApplication(), files(tmp_path))
    token = cipher.encrypt("org-1", b"hunter2", AD)
    assert b"hunter2" not in token.encode() and token.startswith("v1.dk-")
    assert cipher.decrypt("org-1", token, AD) == b"hunter2"
    # A random nonce per value: the same plaintext never gives the same token.
    assert cipher.encrypt("org-1", b"hunter2", AD) != token
    for org, associated in (("org-1", AD + b"X"), ("org-2", AD), ("org-1", b"")):
        with pytest.raises(ValueError):
            cipher.decrypt(org, token, associated)
    version, data_key, body = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(body))
    raw[-1] ^= 1
    for forged in (
        f"{version}.{data_key}.{base64.urlsafe_b64encode(bytes(raw)).decode()}",
        "garbage",
        f"v9.{data_key}.{body}",
        f"v1.dk-unknown.{body}",
    ):
        with pytest.raises(ValueError):
            cipher.decrypt("org-1", forged, AD)


def test_one_data_key_per_organization_stored_only_wrapped(tmp_path: Path) -> None:
    app = SecretsApplication()
    cipher = cipher_on(app, files(tmp_path))
    t1 = cipher.encrypt("org-1", b"a", AD)
    t2 = cipher.encrypt("org-1", b"b", AD)
    t3 = cipher.encrypt("org-2", b"c", AD)
    assert t1.split(".")[1] == t2.split(".")[1] != t3.split(".")[1]
    ring = app.keyring("org-1")
    assert isinstance(ring, KeyRing) and list(ring.keys) == [t1.split(".")[1]]
    kek_id, wrapped = ring.keys[ring.current]
    assert kek_id == key_id(parse_key((tmp_path / KEY_FILE).read_text()))
    assert len(base64.b64decode(wrapped)) == 12 + 32 + 16  # nonce + key + tag
    # Another process (an empty data key cache) decrypts through the wrapped key.
    other = EnvelopeCipher(app, KeyEncryptionKeys(files(tmp_path)))
    assert other.decrypt("org-1", t1, AD) == b"a"


def test_the_embedded_key_file_is_private_and_stable(tmp_path: Path) -> None:
    first = KeyEncryptionKeys(files(tmp_path)).current_id
    assert KeyEncryptionKeys(files(tmp_path)).current_id == first
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600
    with pytest.raises(SecretsKeyError, match="32 bytes") as err:
        KeySource("c2hvcnQ=", "", tmp_path).read()
    assert "c2hvcnQ" not in str(err.value)


def test_rotation_rewraps_data_keys_and_old_ciphertexts_still_decrypt(tmp_path: Path) -> None:
    app = SecretsApplication()
    source = files(tmp_path)
    cipher = cipher_on(app, source)
    tokens = {org: cipher.encrypt(org, org.encode(), AD) for org in ("org-1", "org-2")}
    old_id = cipher.keks.current_id
    replacement = new_key()
    source.install(replacement)
    # The running cipher learns the new key when it meets its id; rotation re-wraps.
    rotating = EnvelopeCipher(app, KeyEncryptionKeys(source))
    assert rotating.keks.current_id == key_id(parse_key(replacement)) != old_id
    assert sorted(rotating.keks.known_ids) == sorted([old_id, rotating.keks.current_id])
    rewrapped = sum(rotating.rewrap_organization(o, Actor.operator()) for o in app.keyring_orgs())
    assert rewrapped == 2
    assert sum(rotating.rewrap_organization(o, Actor.operator()) for o in tokens) == 0
    for org in tokens:
        ring = app.keyring(org)
        assert ring is not None and ring.stale(rotating.keks.current_id) == []
    # Only the new key is needed now: old tokens decrypt, untouched.
    only_new = EnvelopeCipher(app, KeyEncryptionKeys(KeySource(replacement, "", tmp_path)))
    for org, token in tokens.items():
        assert only_new.decrypt(org, token, AD) == org.encode()
    # New organizations' data keys are wrapped under the new key.
    only_new.encrypt("org-3", b"x", AD)
    ring = app.keyring("org-3")
    assert ring is not None and ring.keys[ring.current][0] == rotating.keks.current_id
    # A process that never had the key a data key is wrapped under says so (configuration).
    app2 = SecretsApplication()
    stale = cipher_on(app2, KeySource(new_key(), "", tmp_path))
    token = stale.encrypt("org-9", b"v", AD)
    with pytest.raises(SecretsKeyError, match="TILDE_SECRETS_PREVIOUS_KEYS"):
        EnvelopeCipher(app2, KeyEncryptionKeys(KeySource(new_key(), "", tmp_path))).decrypt(
            "org-9", token, AD
        )


def test_configured_keys_cannot_be_installed_into_files(tmp_path: Path) -> None:
    with pytest.raises(SecretsKeyError, match="TILDE_SECRETS_KEY"):
        KeySource(new_key(), "", tmp_path).install(new_key())
