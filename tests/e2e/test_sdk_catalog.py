"""The official SDK (tilde-sdk 0.7.9, unmodified) against a live server, on both blob stores:
the local store (SQLite) and S3 on the moto server (PostgreSQL).

Sessions, single and multipart uploads, ranged reads, listings over thousands of objects,
commits, conflicts, diff, log, revert and the agent approval flow — as the SDK drives them
(COMPAT §3, §4 and Appendix A)."""

from __future__ import annotations

import hashlib
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import tilde
from tilde.exceptions import BadRequestError, ConflictError, NotFoundError

from domain.catalog.staging import staged_put
from domain.shared.values import Actor, stamp
from infra.bootstrap import Container, bootstrap
from tests import services
from tests.builders import name
from tests.catalog_helpers import (
    AGENT_POLICY,
    MiB,
    md5,
    multipart_etag,
    repo_base,
    s3_overrides,
    serve,
    served_settings,
    sha256,
)
from tests.conftest import FAST_HASHER
from tests.orgs import API, Person, create_agent, create_org, create_principal_key, person

pytestmark = pytest.mark.e2e
CSV = b"id,value\n1,2\n"


@dataclass
class Stack:
    """A live server on one blob store, an owner with an organization, and the SDK."""

    store: str
    container: Container
    url: str
    owner: Person
    org: str
    http: httpx.Client  # raw API calls as the owner (no SDK)
    sdk: tilde.Client

    def new_repo(self, **settings: Any) -> tilde.resources.repositories.Repository:
        org = self.sdk.organizations.get(self.org)
        repo = org.repositories.create(name("r-"), description=f"on {self.store}")
        if settings:
            response = self.http.put(repo_base(self.org, repo.name), json=settings)
            assert response.status_code == 200, response.text
        return self.sdk.repository(f"{self.org}/{repo.name}")


@pytest.fixture(scope="module", params=["local", "s3"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    tmp: Path = tmp_path_factory.mktemp(f"sdk-{request.param}")
    if request.param == "local":
        settings = served_settings(tmp, "sqlite")
    else:
        settings = served_settings(tmp, "postgres", **s3_overrides())
    container = bootstrap(settings, hasher=FAST_HASHER)
    try:
        with serve(container) as server:
            owner = person(container)
            with httpx.Client(base_url=server.url, headers=owner.auth, timeout=60) as http:
                org = create_org(http, owner)["name"]
                with tilde.Client(endpoint_url=server.url, api_key=owner.token) as sdk:
                    yield Stack(request.param, container, server.url, owner, org, http, sdk)
    finally:
        container.close()
        if settings.is_postgres:
            services.drop_database(settings.database_url)


def head_of(repo: Any) -> Any:
    """The SDK's read-only view of the latest committed state."""
    (latest,) = list(repo.commits.list(amount=1))
    return latest.objects


# -- sessions and objects -----------------------------------------------------------------


def test_session_put_get_head_copy_delete_and_commit(stack: Stack) -> None:
    repo = stack.new_repo()
    with repo.session() as session:
        put = session.objects.put("data/a.csv", CSV)
        assert put.path == "data/a.csv" and put.etag == f'"{md5(CSV)}"'
        session.objects.put("data/b.bin", bytes(range(256)) * 4)
        session.objects.put("notes.txt", iter([b"not ", b"sized"]))  # iterable: multipart
        assert session.objects.get("notes.txt").read() == b"not sized"

        meta = session.objects.head("data/a.csv")
        assert meta.etag == put.etag and meta.content_length == 13
        assert meta.content_type == "application/octet-stream" and meta.reproducible is False

        with session.objects.get("data/a.csv") as reader:
            assert reader.read() == CSV
            assert reader.etag == put.etag and reader.content_length == 13

        copied = session.objects.copy("data/a.csv", "backup/a.csv")
        assert (copied.source_path, copied.destination_path) == ("data/a.csv", "backup/a.csv")
        assert session.objects.head("backup/a.csv").etag == put.etag
        session.objects.delete("data/b.bin")
        with pytest.raises(NotFoundError):
            session.objects.head("data/b.bin")
        with pytest.raises(NotFoundError):
            session.objects.delete("data/b.bin")
        assert session.objects.delete_many(["notes.txt", "nope.txt"]) == 1

        listed = [(e.path, e.type) for e in session.objects.list(delimiter="/")]
        assert listed == [("backup/", "prefix"), ("data/", "prefix")]
        staged = {r.path for r in session.uncommitted()}
        assert staged == {"backup/a.csv", "data/a.csv"}  # b.bin and notes.txt came and went
        commit_id = session.commit("first data", metadata={"source": "sdk"})
    assert commit_id

    commit = repo.commits.get(commit_id)
    assert commit.message == "first data" and commit.metadata == {"source": "sdk"}
    assert commit.parents == [] and commit.committer_type == "user"
    assert commit.committer_id == stack.owner.id and commit.is_stale is False
    assert commit.creation_date is not None
    committed = commit.objects
    assert committed.get("backup/a.csv").read() == CSV
    assert committed.head("data/a.csv").content_length == 13
    assert [e.path for e in committed.list()] == ["backup/a.csv", "data/a.csv"]
    entry = next(iter(committed.list(prefix="data/")))
    assert entry.entry is not None and entry.entry.size == 13

    # A session left without commit rolls back; an exception inside rolls back too.
    with repo.session() as session:
        session.objects.put("discarded.txt", b"x")
    with pytest.raises(RuntimeError), repo.session() as session:
        session.objects.put("also-discarded.txt", b"y")
        raise RuntimeError("boom")
    with pytest.raises(NotFoundError):
        committed.head("discarded.txt")
    with pytest.raises(NotFoundError):
        committed.get("also-discarded.txt").read()
    # An empty session cannot commit.
    with pytest.raises(BadRequestError), repo.session() as session:
        session.commit("nothing")


def test_a_70_mib_upload_goes_multipart_and_reads_back_whole_and_in_ranges(stack: Stack) -> None:
    repo = stack.new_repo()
    block = bytes(range(256)) * 4096  # 1 MiB with every byte value
    data = bytearray(block * 70)
    data[0:8] = b"HEADER!!"
    data[-8:] = b"TRAILER!"
    data[64 * MiB - 4 : 64 * MiB + 4] = b"BOUNDARY"  # across the two parts
    data = bytes(data)
    with repo.session() as session:
        result = session.objects.put("big/blob.bin", data)
        expected = multipart_etag([data[: 64 * MiB], data[64 * MiB :]])
        assert expected.endswith("-2") and result.etag == f'"{expected}"'
        meta = session.objects.head("big/blob.bin")
        assert meta.content_length == 70 * MiB and meta.etag == f'"{expected}"'
        session.commit("big one")

    objects = head_of(repo)
    with objects.get("big/blob.bin", cache=False) as reader:
        digest = hashlib.sha256()
        total = 0
        for chunk in reader.iter_bytes(chunk_size=1 << 20):
            digest.update(chunk)
            total += len(chunk)
        assert reader.etag == f'"{expected}"'
    assert total == len(data) and digest.hexdigest() == sha256(data)

    with objects.get("big/blob.bin", byte_range=(0, 7)) as reader:
        assert reader.read() == b"HEADER!!"
        assert reader.content_range == f"bytes 0-7/{len(data)}"
        assert reader.content_length == 8
    boundary = objects.get("big/blob.bin", byte_range=(64 * MiB - 4, 64 * MiB + 3)).read()
    assert boundary == b"BOUNDARY"
    assert objects.get("big/blob.bin", byte_range=(len(data) - 8, None)).read() == b"TRAILER!"
    middle = objects.get("big/blob.bin", byte_range=(10 * MiB + 5, 10 * MiB + 5 + 99)).read()
    assert middle == data[10 * MiB + 5 : 10 * MiB + 105]


def test_listing_thousands_of_objects_with_small_pages_and_a_delimiter(stack: Stack) -> None:
    repo = stack.new_repo()
    session = repo.session()
    session.objects.put("seed.txt", b"shared bytes")
    container = stack.container
    catalog = container.catalog
    org_id = container.authorizer.snapshot(stack.org).org_id
    aggregate = catalog.get_repository(org_id, repo.name)
    seed = catalog.reads.session_entry(session.session_id, "seed.txt")
    assert seed is not None
    now = stamp(catalog.clock())
    paths = [f"d{i % 5}/f{i:05d}.txt" for i in range(2500)]
    # Metadata-only entries sharing the seed's bytes, staged through the application layer.
    entries = [
        staged_put(
            p,
            address=seed["address"],
            size=int(seed["size"]),
            etag=seed["etag"],
            content_type="text/plain",
            metadata={},
            last_modified=now,
        )
        for p in paths
    ]
    written = catalog.stage(aggregate, session.session_id, entries, Actor("user", stack.owner.id))
    container.wait_for(written)
    assert len(list(session.uncommitted(page_size=1000))) == 2501
    session.commit("2500 objects")

    objects = head_of(repo)
    every = [e.path for e in objects.list(page_size=97)]
    assert every == sorted([*paths, "seed.txt"])
    assert len(every) == len(set(every)) == 2501
    top = [(e.path, e.type) for e in objects.list(delimiter="/", page_size=2)]
    assert top == [(f"d{i}/", "prefix") for i in range(5)] + [("seed.txt", "object")]
    inside = [e.path for e in objects.list(prefix="d3/", delimiter="/", page_size=41)]
    assert inside == sorted(p for p in paths if p.startswith("d3/")) and len(inside) == 500
    capped = [e.path for e in objects.list(prefix="d1/", amount=7, page_size=3)]
    assert capped == sorted(p for p in paths if p.startswith("d1/"))[:7]
    resumed = [e.path for e in objects.list(prefix="d4/", after="d4/f02399.txt", page_size=10)]
    assert resumed == ["d4/f02404.txt", *[f"d4/f{i:05d}.txt" for i in range(2409, 2500, 5)]]
    assert objects.get("d2/f00002.txt").read() == b"shared bytes"


def test_parallel_puts_into_one_session_and_concurrent_commits(stack: Stack) -> None:
    repo = stack.new_repo()
    session = repo.session()

    def put(i: int) -> Any:
        return session.objects.put(f"p/{i:03d}.txt", f"object {i}".encode())

    with ThreadPoolExecutor(12) as pool:  # different paths: none may fail
        results = list(pool.map(put, range(120)))
    assert [r.etag for r in results] == [f'"{md5(f"object {i}".encode())}"' for i in range(120)]
    assert len(list(session.uncommitted(page_size=1000))) == 120
    first = session.commit("parallel uploads")

    # Sessions over different paths committing at once all land, one after another.
    sessions = [repo.session() for _ in range(6)]
    for i, s in enumerate(sessions):
        s.objects.put(f"q/{i}.txt", b"q")
    with ThreadPoolExecutor(6) as pool:
        ids = list(pool.map(lambda s: s.commit("concurrent"), sessions))
    log = list(repo.commits.list())
    assert len(log) == 7 and log[-1].id == first and {c.id for c in log[:6]} == set(ids)
    assert all(log[i].parents == [log[i + 1].id] for i in range(6))
    listed = [e.path for e in head_of(repo).list(page_size=50)]
    assert listed == sorted(
        [f"p/{i:03d}.txt" for i in range(120)] + [f"q/{i}.txt" for i in range(6)]
    )
    assert head_of(repo).get("p/077.txt").read() == b"object 77"


# -- commits, conflicts, diff, log, revert ------------------------------------------------


def test_conflicts_diff_log_and_revert(stack: Stack) -> None:
    repo = stack.new_repo()
    with repo.session() as s:
        s.objects.put("a.txt", b"a1")
        s.objects.put("dir/b.txt", b"b1")
        root = s.commit("root")

    first, second = repo.session(), repo.session()
    first.objects.put("a.txt", b"from first")
    second.objects.put("a.txt", b"from second")
    second.objects.put("dir/c.txt", b"c")
    change = first.commit("change a")
    with pytest.raises(ConflictError) as raised, second:
        second.commit("conflicting")
    assert raised.value.status_code == 409 and "a.txt" in str(raised.value)
    with pytest.raises(NotFoundError):  # rolled back by the context manager
        second.commit("again")

    with repo.session() as s:
        s.objects.put("dir/c.txt", b"c")
        s.objects.delete("dir/b.txt")
        s.objects.put("a.txt", b"a3")
        third = s.commit("third")

    log = list(repo.commits.list(page_size=2))
    assert [c.id for c in log] == [third, change, root]
    assert [c.message for c in log] == ["third", "change a", "root"]
    assert log[0].parents == [change] and log[2].parents == []
    assert [c.id for c in repo.commits.list(ref=change)] == [change, root]
    assert [c.id for c in repo.commits.list(amount=1)] == [third]

    diff = {(e.path, e.status) for e in repo.commits.get(third).diff(page_size=1)}
    assert diff == {("a.txt", "modified"), ("dir/b.txt", "removed"), ("dir/c.txt", "added")}
    grouped = [(e.path, e.type) for e in repo.commits.get(third).diff(delimiter="/")]
    assert grouped == [("a.txt", "object"), ("dir/", "prefix")]
    root_diff = [(e.path, e.status) for e in repo.commits.get(root).diff()]  # no left sent
    assert root_diff == [("a.txt", "added"), ("dir/b.txt", "added")]

    reverted = repo.commits.get(third).revert()
    assert reverted.message == 'Revert "third"' and reverted.parents == [third]
    objects = head_of(repo)
    assert objects.get("a.txt").read() == b"from first"
    assert objects.get("dir/b.txt").read() == b"b1"
    with pytest.raises(NotFoundError):
        objects.head("dir/c.txt")
    with pytest.raises(ConflictError):  # the revert itself changed those paths since
        repo.commits.get(third).revert()
    with pytest.raises(BadRequestError):
        repo.commits.get(root).revert(message="cannot")
    again = repo.commits.get(reverted.id).revert(message="redo", metadata={"k": "v"})
    assert again.message == "redo" and again.metadata["k"] == "v"
    assert head_of(repo).get("a.txt").read() == b"a3"


# -- approval -----------------------------------------------------------------------------


def test_agent_commits_wait_for_approval(stack: Stack) -> None:
    repo = stack.new_repo(agents_require_approval=True)
    agent = create_agent(
        stack.http, stack.owner, stack.org, name("bot-"), inline_policy=AGENT_POLICY
    )
    key = create_principal_key(stack.http, stack.owner, stack.org, "agents", agent["name"])
    assert key["token"].startswith("tak-")
    with tilde.Client(endpoint_url=stack.url, api_key=key["token"]) as agent_sdk:
        as_agent = agent_sdk.repository(f"{stack.org}/{repo.name}")

        # Non-blocking: a warning with the web URL, nothing committed yet.
        session = as_agent.session()
        session.objects.put("out/one.txt", b"one")
        with pytest.warns(UserWarning, match="Approval required") as caught:
            assert session.commit("agent one", block_for_approval=False) is None
        web_url = str(caught[0].message).rsplit(" ", 1)[1]
        tail = f"/organizations/{stack.org}/repositories/{repo.name}/sessions/"
        assert web_url == f"{stack.url}/console{tail}{session.session_id}/approve"
        approve = f"{API}{tail}{session.session_id}/approve"
        assert stack.http.head(approve).status_code == 200
        assert list(repo.commits.list()) == []
        review = stack.http.get(approve).json()["results"]
        assert [(r["path"], r["diff_type"]) for r in review] == [("out/one.txt", "added")]
        approved = stack.http.post(approve, json={"message": "ok"})
        assert approved.status_code == 200, approved.text
        assert stack.http.head(approve).status_code == 404
        commit = repo.commits.get(approved.json()["commit_id"])
        assert commit.metadata["approved_by"] == stack.owner.username
        assert commit.metadata["approved_by_type"] == "user"
        assert commit.metadata["approved_by_id"] == stack.owner.id
        assert commit.committer_type == "agent" and commit.committer_id == agent["id"]
        assert head_of(repo).get("out/one.txt").read() == b"one"

        # commit_result(): the envelope, no polling.
        second = as_agent.session()
        second.objects.put("out/two.txt", b"two")
        result = second.commit_result("agent two")
        assert result.status == "approval_required" and result.commit_id is None
        assert result.web_url and result.web_url.endswith(f"/{second.session_id}/approve")
        rollback = stack.http.delete(
            f"{repo_base(stack.org, repo.name)}/sessions/{second.session_id}"
        )
        assert rollback.status_code == 204
        with pytest.raises(NotFoundError):
            head_of(repo).head("out/two.txt")

        # Blocking (the default): the SDK polls HEAD …/approve until a human approves.
        third = as_agent.session()
        third.objects.put("out/three.txt", b"three")
        outcome: dict[str, Any] = {}

        def commit_and_wait() -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                outcome["value"] = third.commit("agent three")

        waiter = threading.Thread(target=commit_and_wait)
        waiter.start()
        third_approve = f"{API}{tail}{third.session_id}/approve"
        deadline = time.monotonic() + 20
        while stack.http.head(third_approve).status_code != 200:
            assert time.monotonic() < deadline, "no approval request appeared"
        assert waiter.is_alive()  # still polling
        assert stack.http.post(third_approve, json={"message": "fine"}).status_code == 200
        waiter.join(timeout=20)
        assert not waiter.is_alive() and outcome["value"] == ""
        assert head_of(repo).get("out/three.txt").read() == b"three"
        assert [c.message for c in repo.commits.list()] == ["fine", "ok"]

    # The owner's own commits land directly.
    with repo.session() as s:
        s.objects.put("human.txt", b"h")
        assert s.commit("by a human")


def test_reads_through_the_sdk_need_no_credentials_at_the_download_url(stack: Stack) -> None:
    repo = stack.new_repo()
    with repo.session() as s:
        s.objects.put("x.txt", b"hello")
        s.commit("x")
    response = stack.http.get(f"{repo_base(stack.org, repo.name)}/object", params={"path": "x.txt"})
    assert response.status_code == 307
    assert response.headers["cache-control"] == "no-store"
    location = response.headers["location"]
    assert location.startswith("http")
    target = httpx.get(location)  # no Authorization header at all
    assert target.status_code == 200 and target.content == b"hello"
    assert target.headers["etag"] == f'"{md5(b"hello")}"'
    partial = httpx.get(location, headers={"Range": "bytes=1-3"})
    assert partial.status_code == 206 and partial.content == b"ell"
    assert partial.headers["content-range"] == "bytes 1-3/5"
    if stack.store == "s3":
        assert not location.startswith(stack.url)  # straight to the bucket
    else:
        assert location.startswith(stack.url + "/")
