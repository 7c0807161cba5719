"""A secret's value appears nowhere but in the decrypted GET: a live `tilde-server serve`
(DEBUG logs captured) takes secrets holding a unique marker, valid and invalid, then every
file of the data directory, every PostgreSQL table, the logs, /metrics and the audit output
(HTTP and CLI) are searched for the marker — zero hits — on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from click.testing import CliRunner

from infra.settings import Settings
from interfaces.cli.main import cli
from tests import services
from tests.builders import PASSWORD, name, signup_body
from tests.conftest import ServerProcess, make_settings

ROOT = Path(__file__).resolve().parents[2]


class LoggedServer(ServerProcess):
    """`tilde-server serve` with DEBUG logs written to a file."""

    def __init__(self, settings: Settings, log: Path) -> None:
        super().__init__(settings)
        self.log = log

    def env(self) -> dict[str, str]:
        return {
            **super().env(),
            "TILDE_LOG_LEVEL": "DEBUG",
            "TILDE_AUTO_APPROVE_SIGNUPS": "true",
        }

    def start(self) -> LoggedServer:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "interfaces.cli.main", "serve", "--port", str(self.port)],
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=str(ROOT),
            )
        services.wait_port(self.port)
        deadline = time.monotonic() + 30
        while httpx.get(self.url + "/health", timeout=2).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        return self


def spellings(marker: str) -> list[bytes]:
    """The marker as it could be stored: raw, JSON-escaped, base64 (padded or not)."""
    raw = marker.encode()
    b64 = base64.b64encode(raw)
    return [raw, raw.hex().encode(), b64.rstrip(b"="), base64.urlsafe_b64encode(raw).rstrip(b"=")]


def hits(blob: bytes, marker: str) -> int:
    return sum(blob.count(s) for s in spellings(marker))


def drive(http: httpx.Client, marker: str) -> dict[str, Any]:
    """Everything a client may do with secrets, the marker in every value it sends."""
    body = signup_body(name())
    assert http.post("/api/v1/auth/signup", json=body).status_code == 201
    basic = httpx.BasicAuth(body["email"], PASSWORD)
    key = http.post("/api/v1/auth/keys", json={"name": "k"}, auth=basic)
    assert key.status_code == 201, key.text
    http.headers["Authorization"] = f"Bearer {key.json()['token']}"
    org = name("o")
    assert http.post("/api/v1/organizations", json={"name": org, "display_name": org}).is_success
    repo = name("r-")
    assert http.post(f"/api/v1/organizations/{org}/repositories", json={"name": repo}).is_success
    agent = name("a-")
    assert http.post(
        f"/api/v1/organizations/{org}/agents", json={"name": agent, "description": "d"}
    ).is_success
    repo_base = f"/api/v1/organizations/{org}/repositories/{repo}/secrets"
    agent_base = f"/api/v1/organizations/{org}/agents/{agent}/secrets"
    value = f"{marker}-repo"
    assert http.put(f"{repo_base}/API_KEY", json={"value": value}).status_code == 200
    assert http.put(f"{repo_base}/API_KEY", json={"value": f"{marker}-v2"}).status_code == 200
    assert http.put(f"{repo_base}/GONE", json={"value": f"{marker}-gone"}).status_code == 200
    assert http.delete(f"{repo_base}/GONE").status_code == 204
    assert http.put(f"{agent_base}/TOKEN", json={"value": f"{marker}-agent"}).status_code == 200
    # Refused writes: none may echo the value back or log it.
    refused = [
        http.put(f"{repo_base}/bad.key", json={"value": marker}),
        http.put(f"{repo_base}/BIG", json={"value": marker * 5000}),
        http.put(f"{repo_base}/LIST", json={"value": [marker]}),
        http.put(f"{repo_base}/NUM", json={"value": 1, "extra": marker}),
        http.put(f"{repo_base}/RAW", content=f'{{"value": "{marker}'.encode()),
        http.put(f"{agent_base}/NUL", json={"value": marker + "\x00"}),
    ]
    for response in refused:
        assert response.status_code == 400, response.text
        assert marker not in response.text
    listing = http.get(repo_base)
    assert listing.status_code == 200 and marker not in listing.text
    # The decrypted GET is the one place the value appears (the scan below can find it).
    got = http.get(f"{repo_base}/API_KEY")
    assert got.json()["value"] == f"{marker}-v2" and got.headers["cache-control"] == "no-store"
    assert http.get(f"{agent_base}/TOKEN").json()["value"] == f"{marker}-agent"
    audit = http.get(f"/api/v1/organizations/{org}/audit")
    assert audit.status_code == 200, audit.text
    metrics = http.get("/metrics")
    return {"org": org, "outputs": [listing.text, audit.text, metrics.text]}


def postgres_dump(url: str) -> bytes:
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        assert len(tables) > 10
        chunks = []
        for schema, table in tables:
            rows = conn.execute(f'SELECT t::text FROM "{schema}"."{table}" t').fetchall()
            chunks.extend(r[0].encode() for r in rows)
            # bytea columns render as hex in ::text; decode them too (event state is bytea).
            columns = conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s"
                " AND table_name = %s AND data_type = 'bytea'",
                (schema, table),
            ).fetchall()
            for (column,) in columns:
                for (data,) in conn.execute(f'SELECT "{column}" FROM "{schema}"."{table}"'):
                    chunks.append(bytes(data or b""))
        return b"\n".join(chunks)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_secret_value_is_found_only_in_the_decrypted_response(tmp_path: Path, kind: str) -> None:
    settings = make_settings(tmp_path, kind)
    marker = f"MARKER{uuid.uuid4().hex}"
    log = tmp_path / "server.log"
    server = LoggedServer(settings, log).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            seen = drive(http, marker)
    finally:
        server.stop()
    try:
        for output in seen["outputs"]:
            assert hits(output.encode(), marker) == 0
        logged = log.read_bytes()
        assert logged.count(b'"event": "request"') >= 15  # every request was logged
        assert hits(logged, marker) == 0, "the marker is in the server's log"
        env = {
            "TILDE_DATA_DIR": str(settings.data_dir),
            "TILDE_DATABASE_URL": settings.database_url,
            "TILDE_SECRET_KEY": settings.secret_key,
            "TILDE_LOG_LEVEL": "DEBUG",
        }
        replay = CliRunner().invoke(cli, ["audit", seen["org"], "--json"], env=env)
        assert replay.exit_code == 0, replay.output
        assert seen["org"] in replay.output and hits(replay.output.encode(), marker) == 0
        files = [p for p in settings.data_dir.rglob("*") if p.is_file()]
        assert any(p.suffix == ".sqlite" for p in files) or kind == "postgres"
        if kind == "sqlite":  # the scan reads the stored form: the keys' names are there
            assert any(b"TOKEN" in p.read_bytes() for p in files if "events" in p.parts)
        found = [str(p) for p in files if hits(p.read_bytes(), marker)]
        assert found == [], f"the marker is stored in {found}"
        if kind == "postgres":
            dump = postgres_dump(settings.database_url)
            assert b"API_KEY" in dump  # the scan sees the secrets' rows
            assert hits(dump, marker) == 0, "the marker is in a PostgreSQL table"
    finally:
        if settings.is_postgres:
            services.drop_database(settings.database_url)
