"""A connector's config never leaves the cipher in plaintext: not in an event, a table, a log
line or an answer; its ciphertext decrypts for that connector only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from litestar.testing import TestClient

from application.connectors import ConnectorsApplication
from application.connectors.app import associated_data
from application.principal import Principal
from domain.connectors.connector import Connector
from infra.bootstrap import Container
from tests.builders import name
from tests.connector_helpers import connectors_url, create_repo, repo_connectors_url, s3_bucket
from tests.connector_helpers import s3_config as config_of
from tests.orgs import create_org, person


def everything_stored(container: Container) -> bytes:
    """Every byte the server keeps: SQLite files of the data directory, or every row of
    every table of the PostgreSQL database (events and read models)."""
    settings = container.settings
    found = b""
    for path in Path(settings.data_dir).rglob("*"):
        if path.is_file():
            found += path.read_bytes()
    if settings.is_postgres:
        with psycopg.connect(settings.database_url) as conn:
            tables = conn.execute(
                "SELECT table_schema, table_name FROM information_schema.tables"
                " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
            ).fetchall()
            for schema, table in tables:
                for row in conn.execute(f'SELECT t::text FROM "{schema}"."{table}" t'):
                    found += str(row[0]).encode()
    return found


def test_the_config_is_stored_encrypted_and_never_shown(
    client: TestClient[Any], container: Container, capfd: pytest.CaptureFixture[str]
) -> None:
    marker = f"SECRET-MARKER-{name()}"
    owner = person(container)
    org_body = create_org(client, owner)
    org = org_body["name"]
    create_repo(client, owner, org, "repo")
    bucket = s3_bucket({"data/a": b"1"})
    body = {
        "name": "secretive",
        "type": "s3",
        "source_uri": f"s3://{bucket}/data/",
        "config": config_of(secret_access_key=marker, extra_note=marker),
    }
    answers = [client.post(connectors_url(org), json=body, headers=owner.auth)]
    connector = answers[0].json()
    url = f"{connectors_url(org)}/{connector['id']}"
    answers += [
        client.get(connectors_url(org), headers=owner.auth),
        client.get(url, headers=owner.auth),
        client.post(f"{url}/test", headers=owner.auth),  # moto takes any secret
        client.post(f"{connectors_url(org)}:test", json=body, headers=owner.auth),
        client.post(
            repo_connectors_url(org, "repo"),
            json={"connector_id": connector["id"]},
            headers=owner.auth,
        ),
        client.get(repo_connectors_url(org, "repo"), headers=owner.auth),
    ]
    assert [a.status_code for a in answers] == [201, 200, 200, 200, 200, 201, 200]
    for answer in answers:
        assert marker not in answer.text
    app = container.service("connectors", ConnectorsApplication)
    # The stored config is the same config, behind the cipher.
    assert app.config(app.connector(org_body["id"], connector["id"]))["extra_note"] == marker
    client.delete(url, headers=owner.auth)

    stored = everything_stored(container)
    assert b"secretive" in stored  # the scan does see what the server stores
    assert marker.encode() not in stored
    events = app.events.get(UUID(connector["id"]))
    recorded = json.dumps([vars(e) for e in events], default=str)
    assert marker not in recorded and "config_token" in recorded
    out, err = capfd.readouterr()
    assert marker not in out and marker not in err


def test_a_config_decrypts_for_its_own_connector_only(
    client: TestClient[Any], container: Container
) -> None:
    owner = person(container)
    org_id = create_org(client, owner)["id"]
    other_org = create_org(client, owner)["id"]
    app = container.service("connectors", ConnectorsApplication)
    made = [
        app.create_connector(
            org_id,
            name=label,
            type="s3",
            source_uri="s3://bucket/",
            config=config_of(secret_access_key=label),
            principal=Principal(type="user", id=owner.id, name=owner.username, via="bearer"),
        ).value
        for label in ("one", "two")
    ]
    one, two = made
    assert app.config(one)["secret_access_key"] == "one"
    with pytest.raises(ValueError):  # another connector's binding
        app.cipher.decrypt(org_id, one.config_token, associated_data(org_id, str(two.id)))
    with pytest.raises(ValueError):  # another organization's key
        app.cipher.decrypt(other_org, one.config_token, associated_data(other_org, str(one.id)))
    assert isinstance(one, Connector) and one.config_token != two.config_token
