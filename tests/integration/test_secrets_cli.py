"""`tilde-server secrets rotate-key | new-key` and backups of the key files (embedded mode),
and rotation with configured keys (PostgreSQL): old values still decrypt, nothing is
re-encrypted, new data keys are wrapped under the new key."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from application.principal import Principal
from application.secrets.app import SecretsApplication
from domain.secrets.keyring import KeyRing
from infra.bootstrap import Container, bootstrap
from infra.secrets.keys import KEY_FILE, PREVIOUS_FILE, key_id, new_key, parse_key
from infra.settings import Settings
from interfaces.cli.main import cli
from tests import services
from tests.conftest import FAST_HASHER, make_settings

ALICE = Principal(type="user", id="alice-id", name="alice", via="bearer")


def run(settings: Settings, *args: str) -> str:
    env = {
        "TILDE_DATA_DIR": str(settings.data_dir),
        "TILDE_DATABASE_URL": settings.database_url,
        "TILDE_SECRETS_KEY": settings.secrets_key,
        "TILDE_SECRETS_PREVIOUS_KEYS": settings.secrets_previous_keys,
    }
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def put(container: Container, org: str, key: str, value: str) -> None:
    app = container.service("secrets", SecretsApplication)
    app.put_secret(org, "repository", "repo-1", key, value, ALICE)


def read(settings: Settings, org: str, key: str) -> str:
    container = bootstrap(settings, hasher=FAST_HASHER)
    try:
        app = container.service("secrets", SecretsApplication)
        return app.read_secret(org, "repository", "repo-1", key)
    finally:
        container.close()


def ring_kek(settings: Settings, org: str) -> str:
    container = bootstrap(settings, hasher=FAST_HASHER)
    try:
        ring = container.service("secrets", SecretsApplication).keyring(org)
        assert isinstance(ring, KeyRing)
        return ring.keys[ring.current][0]
    finally:
        container.close()


def test_embedded_rotation_generates_a_key_rewraps_and_keeps_values(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "sqlite")
    container = bootstrap(settings, hasher=FAST_HASHER)
    try:
        put(container, "org-1", "API_KEY", "value-one")
        put(container, "org-2", "API_KEY", "value-two")
        events_before = container.service("secrets", SecretsApplication).recorder
        ciphertext_rows = events_before.max_notification_id()
    finally:
        container.close()
    key_file = settings.data_dir / KEY_FILE
    old = key_file.read_text().strip()
    report = json.loads(run(settings, "secrets", "rotate-key", "--json"))
    new = key_file.read_text().strip()
    assert new != old and report["current_key_id"] == key_id(parse_key(new))
    assert report["organizations"] == 2 and report["data_keys_rewrapped"] == 2
    assert report["data_keys_under_other_keys"] == 0
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert old in (settings.data_dir / PREVIOUS_FILE).read_text()
    assert ring_kek(settings, "org-1") == report["current_key_id"]
    # The old key is no longer needed: without it, every value still decrypts.
    (settings.data_dir / PREVIOUS_FILE).unlink()
    assert read(settings, "org-1", "API_KEY") == "value-one"
    assert read(settings, "org-2", "API_KEY") == "value-two"
    # Only key-ring events were appended: no secret was re-encrypted.
    container = bootstrap(settings, hasher=FAST_HASHER)
    try:
        recorder = container.service("secrets", SecretsApplication).recorder
        added = recorder.select_notifications(ciphertext_rows + 1, 100)
        assert [n.topic.rsplit(".", 1)[-1] for n in added] == ["Rewrapped", "Rewrapped"]
    finally:
        container.close()
    again = json.loads(run(settings, "secrets", "rotate-key", "--keep-key", "--json"))
    assert again["data_keys_rewrapped"] == 0 and again["current_key_id"] == report["current_key_id"]


def test_new_key_prints_a_usable_key_and_installs_one(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "sqlite")
    printed = run(settings, "secrets", "new-key").strip().splitlines()[0]
    assert len(parse_key(printed)) == 32
    assert not (settings.data_dir / KEY_FILE).exists()  # printing a key installs nothing
    bootstrap(settings, hasher=FAST_HASHER).close()  # the server made its key on start
    first = (settings.data_dir / KEY_FILE).read_text().strip()
    assert "installed" in run(settings, "secrets", "new-key", "--install")
    assert (settings.data_dir / KEY_FILE).read_text().strip() not in (first, printed)
    assert first in (settings.data_dir / PREVIOUS_FILE).read_text()


def test_backup_and_restore_carry_the_key_files(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "live", "sqlite")
    container = bootstrap(settings, hasher=FAST_HASHER)
    try:
        put(container, "org-1", "K", "survives-a-restore")
    finally:
        container.close()
    run(settings, "secrets", "rotate-key")  # leaves a previous-keys file too
    target = tmp_path / "backup"
    run(settings, "backup", str(target))
    for name in (KEY_FILE, PREVIOUS_FILE):
        assert (target / name).exists()
        assert stat.S_IMODE((target / name).stat().st_mode) == 0o600
    restored = make_settings(tmp_path / "restored", "sqlite", secret_key=settings.secret_key)
    run(restored, "restore", str(target))
    assert read(restored, "org-1", "K") == "survives-a-restore"


@pytest.mark.parametrize("kind", ["postgres"])
def test_configured_key_rotation_on_postgres(tmp_path: Path, kind: str) -> None:
    old = new_key()
    settings = make_settings(tmp_path, kind, secrets_key=old)
    try:
        container = bootstrap(settings, hasher=FAST_HASHER)
        try:
            put(container, "org-1", "API_KEY", "pg-value")
        finally:
            container.close()
        new = new_key()
        rotated = settings.model_copy(update={"secrets_key": new, "secrets_previous_keys": old})
        report = json.loads(run(rotated, "secrets", "rotate-key", "--json"))
        assert report["data_keys_rewrapped"] == 1
        assert report["current_key_id"] == key_id(parse_key(new))
        assert not (settings.data_dir / KEY_FILE).exists()  # configured keys never touch disk
        only_new = settings.model_copy(update={"secrets_key": new})
        assert read(only_new, "org-1", "API_KEY") == "pg-value"
        assert ring_kek(only_new, "org-1") == key_id(parse_key(new))
    finally:
        services.drop_database(settings.database_url)
