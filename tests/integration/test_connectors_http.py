"""Connectors over HTTP, on SQLite and PostgreSQL, against real S3 (moto) and GCS (emulator)
servers on loopback: create/list/get/delete, tests that really list, attachments."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from litestar.testing import TestClient

from application.connectors import ConnectorsApplication
from domain.connectors.sources import SourceFailed
from domain.shared.errors import Gone, Invalid, NotFound
from infra.bootstrap import Container
from tests import services
from tests.builders import name
from tests.connector_helpers import (
    connectors_url,
    create_connector,
    create_repo,
    gcs_bucket,
    gcs_config,
    repo_connectors_url,
    s3_body,
    s3_bucket,
    s3_config,
)
from tests.orgs import add_member, assert_error, create_org, person

INFO_KEYS = {
    "id",
    "name",
    "type",
    "source_uri",
    "display_source",
    "disabled",
    "public_key",
    "created_at",
}


def test_connector_crud_wire_shape_uniqueness_and_soft_delete(
    client: TestClient[Any], container: Container
) -> None:
    owner = person(container)
    org = create_org(client, owner)["name"]
    bucket = s3_bucket({})
    created = create_connector(client, owner, org, s3_body("warehouse", bucket, "raw/2024"))
    assert set(created) == INFO_KEYS
    assert created["type"] == "s3" and created["name"] == "warehouse"
    # A prefix names a directory: the URI is normalized with its trailing '/'.
    assert created["source_uri"] == f"s3://{bucket}/raw/2024/"
    assert created["display_source"] == created["source_uri"]
    assert created["disabled"] is False and created["public_key"] is None
    assert created["created_at"].endswith("Z")
    url = connectors_url(org)
    again = client.post(url, json=s3_body("warehouse", bucket), headers=owner.auth)
    assert "already exists" in assert_error(again, 409, "CONFLICT")["message"]
    gcs = create_connector(
        client,
        owner,
        org,
        {
            "name": "lake",
            "type": "gcs",
            "source_uri": f"gs://{gcs_bucket({})}/",
            "config": gcs_config(),
        },
    )
    listed = client.get(url, headers=owner.auth).json()
    assert [c["name"] for c in listed["results"]] == ["lake", "warehouse"]
    assert client.get(f"{url}/{created['id']}", headers=owner.auth).json() == created
    # Nothing of the config comes back, anywhere.
    assert all("config" not in c for c in listed["results"])

    assert client.delete(f"{url}/{created['id']}", headers=owner.auth).status_code == 204
    assert_error(client.get(f"{url}/{created['id']}", headers=owner.auth), 404, "NOT_FOUND")
    assert_error(client.delete(f"{url}/{created['id']}", headers=owner.auth), 404)
    assert [c["id"] for c in client.get(url, headers=owner.auth).json()["results"]] == [gcs["id"]]
    # The name is free again once its connector is deleted.
    reused = create_connector(client, owner, org, s3_body("warehouse", bucket))
    assert reused["id"] != created["id"]
    for bogus in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        assert_error(client.get(f"{url}/{bogus}", headers=owner.auth), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"type": "git"}, "not supported by this server"),
        ({"type": "google_drive"}, "not supported by this server"),
        ({"type": "ftp"}, "type must be one of"),
        ({"source_uri": "gs://bucket/x/"}, "must look like s3://bucket/prefix/"),
        ({"source_uri": "s3://Bad_Bucket/"}, "not a valid s3 bucket name"),
        ({"source_uri": "s3://bucket/a/../b/"}, "'..' segments"),
        ({"source_uri": "s3://bucket/a?x=1"}, "query or a fragment"),
        ({"source_uri": ""}, "source_uri is required"),
        ({"config": {"access_key_id": "k"}}, "config.secret_access_key is required"),
        ({"config": {"access_key_id": "k", "secret_access_key": 3}}, "must be a string"),
        (
            {"config": {"access_key_id": "k", "secret_access_key": "s", "endpoint": "ftp://x"}},
            "config.endpoint must be an http(s) URL",
        ),
        ({"name": ""}, "connector name is required"),
        ({"config": "text"}, "config"),
    ],
)
def test_bad_connector_input_answers_400_with_the_rule(
    client: TestClient[Any], container: Container, change: dict[str, Any], words: str
) -> None:
    owner = person(container)
    org = create_org(client, owner)["name"]
    body = {**s3_body(name("c-"), "bucket"), **change}
    response = client.post(connectors_url(org), json=body, headers=owner.auth)
    assert words in assert_error(response, 400, "BAD_REQUEST")["message"]
    assert client.get(connectors_url(org), headers=owner.auth).json()["results"] == []


def test_gcs_needs_a_key_or_an_endpoint_and_unknown_config_keys_are_kept(
    client: TestClient[Any], container: Container
) -> None:
    owner = person(container)
    org = create_org(client, owner)["name"]
    url = connectors_url(org)
    no_key = {"name": "g", "type": "gcs", "source_uri": "gs://bucket/", "config": {}}
    assert (
        "service_account_json"
        in assert_error(client.post(url, json=no_key, headers=owner.auth), 400)["message"]
    )
    bad_key = {**no_key, "config": {"service_account_json": "{not json"}}
    assert (
        "not valid JSON"
        in assert_error(client.post(url, json=bad_key, headers=owner.auth), 400)["message"]
    )
    # The SDK's own tests send keys of their own: accepted (and never echoed).
    extra = s3_body("extra", s3_bucket({}))
    extra["config"].update(bucket="ignored", region="eu-west-1")
    assert create_connector(client, owner, org, extra)["type"] == "s3"


def test_connection_tests_really_list_the_source_and_answer_502_with_its_error(
    client: TestClient[Any], container: Container
) -> None:
    owner = person(container)
    org = create_org(client, owner)["name"]
    url = connectors_url(org)
    bucket = s3_bucket({"data/a.csv": b"1"})
    ok = client.post(f"{url}:test", json=s3_body("", bucket), headers=owner.auth)
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"status": "ok"}
    missing = s3_body("", f"{bucket}-missing")
    failed = client.post(f"{url}:test", json=missing, headers=owner.auth)
    body = assert_error(failed, 502, "SOURCE_FAILED")
    assert "NoSuchBucket" in body["message"] and f"{bucket}-missing" in body["message"]
    # Nothing listens on that port: a quick, clear 502 (connection refused), never a hang.
    started = time.monotonic()
    refused = s3_body("", bucket)
    refused["config"]["endpoint"] = f"http://127.0.0.1:{services.free_port()}"
    failed = client.post(f"{url}:test", json=refused, headers=owner.auth)
    assert "Could not connect" in assert_error(failed, 502, "SOURCE_FAILED")["message"]
    assert time.monotonic() - started < 15
    bad = client.post(f"{url}:test", json={**missing, "type": "git"}, headers=owner.auth)
    assert_error(bad, 400)

    saved = create_connector(client, owner, org, s3_body("saved", bucket))
    ok = client.post(f"{url}/{saved['id']}/test", headers=owner.auth)
    assert ok.status_code == 200 and ok.json() == {"status": "ok"}, ok.text
    gone = create_connector(client, owner, org, s3_body("gone", f"{bucket}-gone"))
    failed = client.post(f"{url}/{gone['id']}/test", headers=owner.auth)
    assert "NoSuchBucket" in assert_error(failed, 502, "SOURCE_FAILED")["message"]
    assert_error(client.post(f"{url}/{name('x')}/test", headers=owner.auth), 404)

    gbucket = gcs_bucket({"data/a.csv": b"1"})
    gcs = {"type": "gcs", "source_uri": f"gs://{gbucket}/data/", "config": gcs_config()}
    ok = client.post(f"{url}:test", json=gcs, headers=owner.auth)
    assert ok.status_code == 200 and ok.json() == {"status": "ok"}, ok.text
    down = {**gcs, "config": {"endpoint": f"http://127.0.0.1:{services.free_port()}"}}
    failed = client.post(f"{url}:test", json=down, headers=owner.auth)
    assert "Google Cloud Storage answered" in assert_error(failed, 502, "SOURCE_FAILED")["message"]


def test_a_silent_endpoint_is_cut_off_by_the_test_timeout(container: Container) -> None:
    """A server that accepts connections and never answers: the test answers by its bound."""

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        app = container.service("connectors", ConnectorsApplication)
        app.sources.timeout = 1.0  # type: ignore[attr-defined]
        app.sources.test_timeout = 2.0  # type: ignore[attr-defined]
        config = s3_config(endpoint=f"http://127.0.0.1:{listener.getsockname()[1]}")
        started = time.monotonic()
        with pytest.raises(SourceFailed, match=r"did not answer|timed out|Read timeout"):
            app.test_config(type="s3", source_uri="s3://silent/", config=config)
        assert time.monotonic() - started < 4
    finally:
        listener.close()


def test_attachments_attach_list_detach_and_their_errors(
    client: TestClient[Any], container: Container
) -> None:
    owner = person(container)
    org = create_org(client, owner)["name"]
    create_repo(client, owner, org, "photos")
    create_repo(client, owner, org, "videos")
    bucket = s3_bucket({})
    first = create_connector(client, owner, org, s3_body("first", bucket))
    second = create_connector(client, owner, org, s3_body("second", bucket))
    url = repo_connectors_url(org, "photos")
    for connector in (second, first):
        attached = client.post(url, json={"connector_id": connector["id"]}, headers=owner.auth)
        assert attached.status_code == 201 and attached.content == b"", attached.text
    twice = client.post(url, json={"connector_id": first["id"]}, headers=owner.auth)
    assert "already attached" in assert_error(twice, 409, "CONFLICT")["message"]
    listed = client.get(url, headers=owner.auth).json()["results"]
    assert [c["name"] for c in listed] == ["first", "second"]
    assert listed[0] == first
    assert client.get(repo_connectors_url(org, "videos"), headers=owner.auth).json() == {
        "results": []
    }
    assert_error(
        client.post(url, json={"connector_id": "nope"}, headers=owner.auth), 400, "BAD_REQUEST"
    )
    unknown = {"connector_id": "00000000-0000-0000-0000-000000000000"}
    assert_error(client.post(url, json=unknown, headers=owner.auth), 404)
    assert_error(client.post(url, json={}, headers=owner.auth), 400)
    no_repo = repo_connectors_url(org, "nothing")
    assert_error(client.post(no_repo, json={"connector_id": first["id"]}, headers=owner.auth), 404)
    assert_error(client.get(no_repo, headers=owner.auth), 404)

    assert client.delete(f"{url}/{second['id']}", headers=owner.auth).status_code == 204
    assert_error(client.delete(f"{url}/{second['id']}", headers=owner.auth), 404)
    assert [c["id"] for c in client.get(url, headers=owner.auth).json()["results"]] == [first["id"]]
    # A deleted connector leaves the repository's list and cannot be attached again.
    client.delete(f"{connectors_url(org)}/{first['id']}", headers=owner.auth)
    assert client.get(url, headers=owner.auth).json() == {"results": []}
    again = client.post(
        repo_connectors_url(org, "videos"), json={"connector_id": first["id"]}, headers=owner.auth
    )
    assert_error(again, 404)


def test_connectors_of_another_organization_stay_invisible(
    client: TestClient[Any], container: Container
) -> None:
    owner, stranger = person(container), person(container)
    org = create_org(client, owner)["name"]
    other = create_org(client, stranger)["name"]
    create_repo(client, stranger, other, "theirs")
    mine = create_connector(client, owner, org, s3_body("mine", s3_bucket({})))
    assert_error(client.get(f"{connectors_url(other)}/{mine['id']}", headers=stranger.auth), 404)
    attach = client.post(
        repo_connectors_url(other, "theirs"),
        json={"connector_id": mine["id"]},
        headers=stranger.auth,
    )
    assert_error(attach, 404)
    # A member (the built-in Member policy) reads connectors but does not manage them.
    member = person(container)
    add_member(client, owner, org, member)
    denied = client.post(connectors_url(org), json=s3_body("m", "bucket"), headers=member.auth)
    assert "CreateConnector" in assert_error(denied, 403, "FORBIDDEN")["message"]
    for call in (
        client.delete(f"{connectors_url(org)}/{mine['id']}", headers=member.auth),
        client.post(f"{connectors_url(org)}/{mine['id']}/test", headers=member.auth),
    ):
        assert_error(call, 403, "FORBIDDEN")
    assert client.get(f"{connectors_url(org)}/{mine['id']}", headers=member.auth).json() == mine


def test_source_for_lists_an_attached_connector_and_refuses_otherwise(
    client: TestClient[Any], container: Container
) -> None:
    owner = person(container)
    org_body = create_org(client, owner)
    org, org_id = org_body["name"], org_body["id"]
    repo_id = create_repo(client, owner, org, "lake")["id"]
    keys = {"in/b.csv": b"bb", "in/a.csv": b"a", "in/sub/c.bin": b"ccc", "out/x": b"x"}
    bucket = s3_bucket(keys)
    s3 = create_connector(client, owner, org, s3_body("s3", bucket, "in/"))
    app = container.service("connectors", ConnectorsApplication)
    with pytest.raises(Invalid, match="not attached"):
        app.source_for(org_id, s3["id"], repo_id)
    with pytest.raises(NotFound):
        app.source_for(org_id, "00000000-0000-0000-0000-000000000000", repo_id)
    client.post(
        repo_connectors_url(org, "lake"), json={"connector_id": s3["id"]}, headers=owner.auth
    )
    source, prefix = app.source_for(org_id, s3["id"], repo_id)
    assert prefix == "in/"
    listed = list(source.list(prefix))
    assert [o.key for o in listed] == ["in/a.csv", "in/b.csv", "in/sub/c.bin"]
    assert [o.size for o in listed] == [1, 2, 3]
    assert all(o.etag and '"' not in o.etag and o.last_modified for o in listed)
    assert [o.key for o in source.list(prefix, start_after="in/a.csv")] == [
        "in/b.csv",
        "in/sub/c.bin",
    ]
    with source.open("in/sub/c.bin") as stream:
        assert stream.read() == b"ccc"
    with pytest.raises(NotFound):  # of another organization
        app.source_for(create_org(client, owner)["id"], s3["id"], repo_id)

    gbucket = gcs_bucket(keys)
    gcs = create_connector(
        client,
        owner,
        org,
        {"name": "gcs", "type": "gcs", "source_uri": f"gs://{gbucket}/in", "config": gcs_config()},
    )
    client.post(
        repo_connectors_url(org, "lake"), json={"connector_id": gcs["id"]}, headers=owner.auth
    )
    source, prefix = app.source_for(org_id, gcs["id"], repo_id)
    listed = list(source.list(prefix))
    assert [o.key for o in listed] == ["in/a.csv", "in/b.csv", "in/sub/c.bin"]
    assert all(o.version_id for o in listed)
    assert source.open("in/b.csv").read() == b"bb"

    client.delete(f"{connectors_url(org)}/{s3['id']}", headers=owner.auth)
    with pytest.raises(Gone, match="deleted"):
        app.source_for(org_id, s3["id"], repo_id)
