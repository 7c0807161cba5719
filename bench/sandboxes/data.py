"""The sandbox's data: mounting a commit's tree and publishing a run's changes.

- cold mount: `HardLinkTreeStore.tree()` of a 100k-object commit (catalog read in keyset
  batches, hard links, the idmapped view) beside `cp -al` of the same files (the kernel's
  hard-link copy of an already built tree: the floor for linking N files);
- cached mount: the same tree again from another store instance (another process);
- publish: 1,000 files changed under a real overlay, collected from its upper layer, put
  into the blob store, staged and committed; beside `cp -r` of those files plus one `sync`.

Embedded mode (SQLite, local blob store) in a temporary data directory; needs root (mounts).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import Row, Stopwatch, Target, log, ms


def _repository(container: Any, n: int) -> tuple[Any, str, str, str]:
    """A repository with n small distinct blobs committed: (principal, org, name, commit)."""
    from application.principal import Principal
    from domain.catalog.staging import staged_put
    from domain.shared.values import stamp
    from infra.sandboxes.blob_sink import BlobSink

    cat = container.catalog
    principal = Principal("user", str(uuid.uuid4()), "bench", "bearer")
    org = str(uuid.uuid4())
    repo = cat.create_repository(org, name="data", settings={}, principal=principal).value
    sink = BlobSink(cat.blobs)
    scratch = Path(tempfile.mkdtemp())
    per = max(1, int(n**0.5))
    sid = str(cat.create_session(org, "data", principal).value.id)
    now = stamp(cat.clock())
    started = time.perf_counter()
    for start in range(0, n, 1000):
        files, paths = [], []
        for i in range(start, min(n, start + 1000)):
            f = scratch / str(i)
            f.write_bytes(f"object {i}\n".encode())
            files.append(f)
            paths.append(f"d{i // per:04d}/f{i % per:04d}.txt")
        stored = sink.put_many(str(repo.id), files)
        entries = [
            staged_put(
                p,
                address=a,
                size=info.size,
                etag=info.etag,
                content_type="text/plain",
                metadata={},
                last_modified=now,
            )
            for p, (a, info) in zip(paths, stored, strict=True)
        ]
        cat.stage(cat.get_repository(org, "data"), sid, entries, principal.actor)
        for f in files:
            f.unlink()
    commit = cat.commit(org, "data", sid, message="seed", metadata={}, principal=principal)
    log(f"seeded {n:,} objects in {time.perf_counter() - started:.1f} s")
    shutil.rmtree(scratch)
    return principal, org, "data", commit.value.commit_id


def run(args: argparse.Namespace) -> list[Row]:
    from infra.bootstrap import bootstrap
    from infra.crypto.passwords import Argon2PasswordHasher
    from infra.sandboxes.blob_cache import blob_files
    from infra.sandboxes.changes import OverlayChangeCollector
    from infra.sandboxes.publish import CatalogPublisher
    from infra.sandboxes.trees import HardLinkTreeStore, tree_key
    from infra.settings import Settings

    n = 10_000 if args.quick else args.objects
    changes = min(args.changes, n)
    base = Path(tempfile.mkdtemp(prefix="bench-sandboxes-"))
    settings = Settings(data_dir=base / "data", secret_key="bench", log_level="WARNING")
    container = bootstrap(settings, hasher=Argon2PasswordHasher(time_cost=1, memory_cost=1024))
    mounts: list[Path] = []
    try:
        principal, org, name, commit = _repository(container, n)
        cat = container.catalog
        repo_id = str(cat.get_repository(org, name).id)
        files = blob_files(cat.blobs, base / "sandboxes" / "blobs")

        def store() -> HardLinkTreeStore:
            return HardLinkTreeStore(base / "sandboxes" / "trees", files, uid=1000, gid=1000)

        cold_store = store()
        with Stopwatch() as cold:
            view = cold_store.tree(repo_id, commit, "", cat.reads.tree_entries(repo_id, commit, ""))
        mounts.append(view)
        built = cold_store.root / "built" / tree_key(repo_id, commit, "")
        with Stopwatch() as copy:
            subprocess.run(["cp", "-al", str(built), str(base / "cp-al")], check=True)
        warm = []
        for _ in range(5):
            again = store()
            with Stopwatch() as cached:
                again.tree(repo_id, commit, "", iter(()))
            warm.append(cached.seconds)
            again.release(repo_id, commit, "")
            again.close()
        cached_s = min(warm)

        # -- a run that changed `changes` files, then collect + publish ----------------------
        upper, work, merged = (base / "ov" / d for d in ("upper", "work", "merged"))
        for d in (upper, work, merged):
            d.mkdir(parents=True)
        subprocess.run(
            ["mount", "-t", "overlay", "overlay", "-o",
             f"lowerdir={view},upperdir={upper},workdir={work}", str(merged)],
            check=True,
        )  # fmt: skip
        mounts.append(merged)
        per = max(1, int(n**0.5))
        for i in range(changes):
            (merged / f"d{i // per:04d}/f{i % per:04d}.txt").write_bytes(b"changed %d\n" % i)
        subprocess.run(["umount", str(merged)], check=True)
        mounts.remove(merged)
        sid = str(cat.create_session(org, name, principal).value.id)
        publisher = CatalogPublisher(cat)
        with Stopwatch() as publish:
            out = publisher.publish(
                org_id=org,
                repo_name=name,
                session_id=sid,
                changes=OverlayChangeCollector().changes(upper, view),
                principal=principal,
                image="bench",
                command=["true"],
            )
        assert out.kind == "committed", out
        with Stopwatch() as raw:
            subprocess.run(["cp", "-r", str(upper), str(base / "raw-copy")], check=True)
            subprocess.run(["sync"], check=True)
        cold_store.release(repo_id, commit, "")
        cold_store.close()
    finally:
        for m in mounts:
            subprocess.run(["umount", "-l", str(m)], check=False)
        container.close()
        shutil.rmtree(base, ignore_errors=True)
    per_object_us = cold.seconds / n * 1e6
    log(f"cold mount: {per_object_us:.1f} µs/object")
    return [
        Row(
            f"mount {n:,}-object tree, cold",
            "ms",
            ms(cold.seconds),
            ms(copy.seconds),
            Target("<=", 2000.0, "≤ 2 s"),
            {"us_per_object": per_object_us},
        ),
        Row(
            f"mount {n:,}-object tree, cached",
            "ms",
            ms(cached_s),
            ms(copy.seconds),
            Target("<=", 200.0, "≤ 0.2 s"),
        ),
        Row(
            f"collect + publish {changes:,} changed files",
            "ms",
            ms(publish.seconds),
            ms(raw.seconds),
            Target("<=", 1000.0, "≤ 1 s"),
        ),
    ]
