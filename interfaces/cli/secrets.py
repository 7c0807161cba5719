"""`tilde-server secrets new-key | rotate-key`: the key-encryption key of secrets at rest."""

from __future__ import annotations

from pathlib import Path

import click

from application.secrets.app import SecretsApplication
from application.secrets.ports import CIPHER_SERVICE
from domain.shared.values import Actor
from infra.secrets.cipher import EnvelopeCipher
from infra.secrets.keys import KeySource, SecretsKeyError, key_id, new_key, parse_key
from interfaces.cli.common import cli_container, data_dir_option, echo_json, settings_from


@click.group()
def secrets() -> None:
    """The key-encryption key (KEK) that wraps each organization's data keys."""


def _source(data_dir: Path | None) -> KeySource:
    settings = settings_from(data_dir, role="cli")
    return KeySource(settings.secrets_key, settings.secrets_previous_keys, settings.data_dir)


@secrets.command("new-key")
@data_dir_option
@click.option(
    "--install",
    is_flag=True,
    help="Embedded mode: make it the data directory's current key (the old one is kept as "
    "a previous key); then run `rotate-key --keep-key` to re-wrap",
)
def new_key_command(data_dir: Path | None, install: bool) -> None:
    """Print a fresh key for TILDE_SECRETS_KEY (base64 of 32 random bytes) and its key id."""
    key = new_key()
    if install:
        try:
            _source(data_dir).install(key)
        except SecretsKeyError as e:
            raise click.ClickException(str(e)) from None
        click.echo(f"installed {key_id(parse_key(key))} as the current key")
        return
    click.echo(key)
    click.echo(f"# key id {key_id(parse_key(key))}", err=True)


@secrets.command("rotate-key")
@data_dir_option
@click.option(
    "--keep-key",
    is_flag=True,
    help="Embedded mode: re-wrap under the current key file instead of generating a new one",
)
@click.option("--json", "as_json", is_flag=True)
def rotate_key(data_dir: Path | None, keep_key: bool, as_json: bool) -> None:
    """Re-wrap every organization's data keys under the current key-encryption key. Secrets
    and connector configs are not re-encrypted (their data keys do not change) and the server
    keeps serving meanwhile. In embedded mode (no TILDE_SECRETS_KEY) a new key is generated
    into the data directory first, the old one kept in secrets.previous-keys; with
    TILDE_SECRETS_KEY set, set the new key there and the old one in
    TILDE_SECRETS_PREVIOUS_KEYS, then run this."""
    source = _source(data_dir)
    try:
        if source.from_files and not keep_key:
            source.install(new_key())
        with cli_container(data_dir) as container:
            cipher = container.services[CIPHER_SERVICE]
            assert isinstance(cipher, EnvelopeCipher)
            cipher.keks.reload()
            app = container.service("secrets", SecretsApplication)
            orgs = sorted(set(app.keyring_orgs()))
            rewrapped = sum(cipher.rewrap_organization(o, Actor.operator()) for o in orgs)
            stale = sum(
                len(ring.stale(cipher.keks.current_id))
                for ring in (app.keyring(o) for o in orgs)
                if ring is not None
            )
    except SecretsKeyError as e:
        raise click.ClickException(str(e)) from None
    report = {
        "current_key_id": cipher.keks.current_id,
        "organizations": len(orgs),
        "data_keys_rewrapped": rewrapped,
        "data_keys_under_other_keys": stale,
    }
    if as_json:
        echo_json(report)
        return
    click.echo(f"current key:          {report['current_key_id']}")
    click.echo(f"organizations:        {report['organizations']}")
    click.echo(f"data keys re-wrapped: {report['data_keys_rewrapped']}")
    if stale:
        click.echo(f"still under old keys: {stale} (run again)")
