"""The read-only lower tree of a sandbox: hard links to the blob files (no byte copied),
shown owned by the sandbox uid through an idmapped mount, cached per (repository, commit,
prefix), built once by concurrent builders, crash leftovers removed, evicted LRU within a
budget, and the blob store untouched by anything a sandbox does through the overlay."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from application.ports import CompletedPart
from application.sandboxes.ports import TreeEntry
from infra.bootstrap import Container
from infra.localfs import LocalBlobStore
from infra.localfs.signing import PART, UPLOAD, Grant
from infra.sandboxes import idmap
from infra.sandboxes.blob_cache import BlobCache, LocalBlobFiles, blob_key
from infra.sandboxes.trees import HardLinkTreeStore, tree_key
from tests.catalog_helpers import Repo
from tests.sandbox_trees import (
    GID,
    UID,
    as_sandbox,
    entries,
    overlay,
    tree_store,
    unmount_under,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts need root")


@pytest.fixture(autouse=True)
def _unmount(tmp_path: Path) -> Iterator[None]:
    yield
    unmount_under(tmp_path)


def _repo_id(container: Container, repo: Repo) -> str:
    org_id = container.resolve_organization(repo.org)
    return str(container.catalog.get_repository(org_id, repo.name).id)


def _blob_file(container: Container, repo_id: str, commit: str, path: str) -> Path:
    for entry in entries(container, repo_id, commit):
        if entry.path == path:
            return Path(container.catalog.blobs.root) / entry.blob_key  # type: ignore[attr-defined]
    raise AssertionError(path)


def _never() -> Iterator[TreeEntry]:
    raise AssertionError("a cached tree must not read the commit's entries again")
    yield  # pragma: no cover


def test_a_commit_tree_links_the_blob_files_and_shows_them_owned_by_the_sandbox_uid(
    container: Container, repo: Repo, tmp_path: Path
) -> None:
    repo.write({"a.txt": b"alpha", "src/b.py": b"print(1)\n", "src/deep/c": b"c"}, "one")
    commit = repo.write({"a.txt": b"alpha2", "gone": b"x"}, "two")
    commit = repo.write({"gone": None}, "three")
    repo_id = _repo_id(container, repo)
    store = tree_store(container, tmp_path)
    try:
        view = store.tree(repo_id, commit, "", entries(container, repo_id, commit))
        files = sorted(str(p.relative_to(view)) for p in view.rglob("*") if p.is_file())
        assert files == ["a.txt", "src/b.py", "src/deep/c"]
        assert (view / "a.txt").read_bytes() == b"alpha2"
        assert idmap.is_mounted(view)
        # Ownership through the idmap: the sandbox's uid for files and directories …
        for p in (view, view / "src", view / "src/deep", view / "a.txt"):
            assert (p.stat().st_uid, p.stat().st_gid) == (UID, GID), p
        # … while on disk the tree is the blob store's own inodes (no copy), still root's.
        blob = _blob_file(container, repo_id, commit, "a.txt")
        built = store.root / "built" / tree_key(repo_id, commit, "")
        assert (built / "a.txt").stat().st_ino == blob.stat().st_ino
        assert blob.stat().st_uid == 0 and blob.stat().st_nlink >= 2
        # Read-only: not even root writes through the view.
        with pytest.raises(OSError, match="Read-only"):
            (view / "a.txt").write_bytes(b"no")
    finally:
        store.release(repo_id, commit, "")
        store.close()


def test_path_prefix_mounts_only_that_folder_at_the_root(
    container: Container, repo: Repo, tmp_path: Path
) -> None:
    commit = repo.write({"data/x.csv": b"1,2", "data/sub/y": b"y", "datab": b"no", "z": b"no"})
    repo_id = _repo_id(container, repo)
    store = tree_store(container, tmp_path)
    try:
        for prefix in ("data", "data/"):
            got = list(entries(container, repo_id, commit, prefix))
            assert [e.path for e in got] == ["sub/y", "x.csv"], prefix
        view = store.tree(repo_id, commit, "data", entries(container, repo_id, commit, "data"))
        assert sorted(p.name for p in view.iterdir()) == ["sub", "x.csv"]
        assert (view / "x.csv").read_bytes() == b"1,2"
    finally:
        store.close()


def test_writes_through_the_overlay_copy_up_and_never_touch_the_blob_file(
    container: Container, repo: Repo, tmp_path: Path
) -> None:
    commit = repo.write({"doc.txt": b"original", "dir/keep": b"k", "dir/drop": b"d"})
    repo_id = _repo_id(container, repo)
    blob = _blob_file(container, repo_id, commit, "doc.txt")
    before = blob.stat()
    store = tree_store(container, tmp_path)
    try:
        view = store.tree(repo_id, commit, "", entries(container, repo_id, commit))
        with overlay(view, tmp_path / "sb") as ov:
            run = as_sandbox(
                "id -u && echo changed >> doc.txt && chmod 600 doc.txt && rm dir/drop"
                " && echo new > dir/new && cat doc.txt",
                ov.merged,
            )
            assert run.returncode == 0, run.stderr
            assert run.stdout.split("\n")[0] == str(UID)
            assert "original" in run.stdout and "changed" in run.stdout
            assert (ov.upper / "doc.txt").read_bytes() == b"originalchanged\n"
            assert (ov.upper / "doc.txt").stat().st_ino != blob.stat().st_ino
        after = blob.stat()
        assert blob.read_bytes() == b"original"
        assert (after.st_mode, after.st_uid, after.st_mtime_ns, after.st_size) == (
            before.st_mode,
            before.st_uid,
            before.st_mtime_ns,
            before.st_size,
        )
        assert (view / "dir" / "drop").exists()  # the lower tree itself is unchanged too
    finally:
        store.close()


def test_a_cached_tree_is_reused_without_reading_the_commit_again(
    container: Container, repo: Repo, tmp_path: Path
) -> None:
    commit = repo.write({"f": b"1"})
    repo_id = _repo_id(container, repo)
    store = tree_store(container, tmp_path)
    first = store.tree(repo_id, commit, "", entries(container, repo_id, commit))
    again = store.tree(repo_id, commit, "", _never())
    assert first == again
    store.release(repo_id, commit, "")
    store.release(repo_id, commit, "")
    store.close()
    # Another process (a new store on the same root) finds it built too.
    other = tree_store(container, tmp_path)
    assert other.tree(repo_id, commit, "", _never()) == first
    assert (first / "f").read_bytes() == b"1"
    other.close()


def test_concurrent_builders_of_one_commit_build_it_once(
    container: Container, repo: Repo, tmp_path: Path
) -> None:
    commit = repo.write({f"d{i % 7}/f{i}": str(i).encode() for i in range(60)})
    repo_id = _repo_id(container, repo)
    rows = list(entries(container, repo_id, commit))
    consumed: list[int] = []

    def counted() -> Iterator[TreeEntry]:
        consumed.append(1)
        yield from rows

    stores = [tree_store(container, tmp_path) for _ in range(4)]  # like 4 processes
    views: list[Path] = []
    barrier = threading.Barrier(len(stores))

    def build(store: HardLinkTreeStore) -> None:
        barrier.wait()
        views.append(store.tree(repo_id, commit, "", counted()))

    threads = [threading.Thread(target=build, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(views) == 4 and len(set(views)) == 1
    assert len(consumed) == 1
    assert sum(1 for p in views[0].rglob("*") if p.is_file()) == 60
    mountinfo = Path("/proc/self/mountinfo").read_text().splitlines()
    assert sum(1 for line in mountinfo if str(views[0]) in line) == 1
    for s in stores:
        s.close()


def test_a_crashed_build_leaves_nothing_visible_and_its_scratch_is_removed(
    container: Container, repo: Repo, tmp_path: Path
) -> None:
    commit = repo.write({"a": b"a", "b": b"b"})
    repo_id = _repo_id(container, repo)
    store = tree_store(container, tmp_path)
    rows = list(entries(container, repo_id, commit))

    def dies() -> Iterator[TreeEntry]:
        yield rows[0]
        raise RuntimeError("killed mid-build")

    with pytest.raises(RuntimeError):
        store.tree(repo_id, commit, "", dies())
    key = tree_key(repo_id, commit, "")
    assert not (store.root / "built" / key).exists()
    # A kill -9 leaves its scratch behind: the next store sweeps it, the next build works.
    leftover = store.root / "tmp" / f"{key}.deadbeef"
    (leftover / "half").mkdir(parents=True)
    store.close()
    store = tree_store(container, tmp_path)
    assert not leftover.exists()
    view = store.tree(repo_id, commit, "", iter(rows))
    assert sorted(p.name for p in view.iterdir()) == ["a", "b"]
    store.close()


def test_unused_trees_are_evicted_least_recently_used_first_within_the_budget(
    container: Container, repo: Repo, tmp_path: Path
) -> None:
    c1 = repo.write({"x": b"1" * 100})
    c2 = repo.write({"y": b"2" * 100})
    repo_id = _repo_id(container, repo)
    store = tree_store(container, tmp_path, budget_bytes=250)
    v1 = store.tree(repo_id, c1, "", entries(container, repo_id, c1))  # 100 bytes
    v2 = store.tree(repo_id, c2, "", entries(container, repo_id, c2))  # 200 bytes
    store.release(repo_id, c1, "")
    assert v2.exists()  # 300 > 250, but c2 is held and c1 …
    assert not (store.root / "built" / tree_key(repo_id, c1, "")).exists()  # … was evicted
    assert not idmap.is_mounted(v1) and not v1.exists()
    assert (v2 / "y").read_bytes() == b"2" * 100  # the held tree is untouched
    store.release(repo_id, c2, "")
    assert (store.root / "built" / tree_key(repo_id, c2, "")).exists()  # within budget
    store.close()


def test_names_that_cannot_be_files_are_left_out_and_nothing_escapes(tmp_path: Path) -> None:
    blobs = tmp_path / "blobs"
    address = "r1/" + "0" * 32
    (blobs / address).mkdir(parents=True)
    etag = "a" * 32
    (blobs / address / etag).write_bytes(b"data")
    key = f"{address}/{etag}"
    names = [
        "../escape",
        "a/../../escape",
        "./dot",
        "a//b",
        "trailing/",
        "x" * 256,
        "nul\0name",
        "ok",
        "ok/child",  # `ok` is a file: this cannot be a folder too
        "sub/fine",
        "sub/" + "y" * 255,
    ]
    store = HardLinkTreeStore(tmp_path / "trees", LocalBlobFiles(blobs), uid=UID, gid=GID)
    view = store.tree("r1", "c1", "", iter(TreeEntry(n, key, 4) for n in sorted(names)))
    found = sorted(str(p.relative_to(view)) for p in view.rglob("*"))
    assert found == ["ok", "sub", "sub/fine", "sub/" + "y" * 255]
    assert not (tmp_path / "escape").exists() and not (tmp_path / "trees" / "escape").exists()
    store.close()


def test_blobs_of_a_remote_store_are_downloaded_once_into_the_cache(
    container: Container, repo: Repo, tmp_path: Path
) -> None:
    commit = repo.write({"a": b"alpha", "b": b"beta"})
    repo_id = _repo_id(container, repo)
    blobs = container.catalog.blobs
    opened: list[str] = []
    real_open = blobs.open

    def counting_open(address: str, start: int = 0, end: int | None = None) -> Any:
        opened.append(address)
        return real_open(address, start, end)

    blobs.open = counting_open  # type: ignore[method-assign]
    try:
        cache = BlobCache(tmp_path / "cache", blobs)
        s1 = HardLinkTreeStore(tmp_path / "t1", cache, uid=UID, gid=GID)
        s2 = HardLinkTreeStore(tmp_path / "t2", cache, uid=UID, gid=GID)
        v1 = s1.tree(repo_id, commit, "", entries(container, repo_id, commit))
        v2 = s2.tree(repo_id, commit, "", entries(container, repo_id, commit))
        assert (v1 / "a").read_bytes() == (v2 / "a").read_bytes() == b"alpha"
        assert sorted(opened) == sorted(set(opened)) and len(opened) == 2
        s1.close()
        s2.close()
    finally:
        del blobs.open


def test_an_unknown_commit_is_not_found_and_no_commit_is_the_empty_tree(
    client: TestClient[Any], container: Container, repo: Repo
) -> None:
    from domain.shared.errors import NotFound

    repo_id = _repo_id(container, repo)
    assert list(entries(container, repo_id, "")) == []
    with pytest.raises(NotFound):
        list(entries(container, repo_id, "f" * 64))


def test_without_idmapped_mounts_the_plain_tree_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blobs = tmp_path / "blobs"
    address = "r1/" + "1" * 32
    (blobs / address).mkdir(parents=True)
    (blobs / address / ("b" * 32)).write_bytes(b"data")

    def refuse(*args: object) -> None:
        raise idmap.IdmapUnavailable(1, "mount_setattr(MOUNT_ATTR_IDMAP): Operation not permitted")

    monkeypatch.setattr(idmap, "mount_view", refuse)
    store = HardLinkTreeStore(tmp_path / "trees", LocalBlobFiles(blobs), uid=UID, gid=GID)
    view = store.tree("r1", "c1", "", iter([TreeEntry("f", f"{address}/{'b' * 32}", 4)]))
    assert view == store.root / "built" / tree_key("r1", "c1", "")
    assert (view / "f").read_bytes() == b"data" and not idmap.is_mounted(view)
    store.close()


def test_a_user_namespace_is_made_with_descriptors_past_1024_open() -> None:
    """A long-running server holds many descriptors; select() refused those past 1024."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2048), max(hard, 2048)))
    held = [os.open("/dev/null", os.O_RDONLY) for _ in range(1100)]
    try:
        userns = idmap.user_namespace(0, 1000, 0, 1000)
        assert userns > 1024
        os.close(userns)
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_blob_kept_as_parts_is_joined_once_into_the_cache_and_linked_from_there(
    tmp_path: Path,
) -> None:
    """A multipart blob the local store keeps as its parts cannot be hard-linked: the tree
    links a copy joined once into the sandbox blob cache (read-only, pruned when unused),
    while a blob stored whole is still linked from the store itself."""
    store = LocalBlobStore(tmp_path / "blobs", "http://127.0.0.1:9", "secret")
    address = store.new_address("r1")
    upload_id = store.create_multipart(address)
    parts = [os.urandom(3000), os.urandom(2000)]
    done = []
    for number, body in enumerate(parts, 1):
        grant = Grant(PART, address, int(time.time()) + 60, upload_id, number)
        done.append(CompletedPart(number, store.store(grant, body).etag))
    joined = store.complete_multipart(address, upload_id, done)
    single = store.new_address("r1")
    whole = store.store(Grant(UPLOAD, single, int(time.time()) + 60), b"whole")
    files = LocalBlobFiles(store.root, BlobCache(tmp_path / "cache", store))
    trees = HardLinkTreeStore(tmp_path / "trees", files, uid=UID, gid=GID)
    listed = [
        TreeEntry("big.bin", blob_key(address, joined.etag), joined.size),
        TreeEntry("small.txt", blob_key(single, whole.etag), whole.size),
    ]
    view = trees.tree("r1", "c1", "", iter(listed))
    assert (view / "big.bin").read_bytes() == b"".join(parts)
    assert (view / "small.txt").read_bytes() == b"whole"
    own = store.root / single / whole.etag
    assert os.stat(view / "small.txt").st_ino == own.stat().st_ino  # the store's own file
    cached = files.path(blob_key(address, joined.etag), joined.size)
    assert cached.is_relative_to(tmp_path / "cache")
    assert os.stat(view / "big.bin").st_ino == cached.stat().st_ino
    assert (store.root / address / joined.etag).is_dir()  # the store keeps its parts
    trees.close()
