"""Helpers of the sandbox tree, change and publish tests: a tree store over a container's
blobs, an overlay mounted the way the Docker adapter mounts it, commands run as the sandbox
uid (no capabilities)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from application.sandboxes.ports import TreeEntry
from infra.bootstrap import Container
from infra.sandboxes.blob_cache import blob_files
from infra.sandboxes.trees import HardLinkTreeStore

UID = GID = 1000


def tree_store(container: Container, root: Path, **kw: object) -> HardLinkTreeStore:
    blobs = container.catalog.blobs
    return HardLinkTreeStore(root / "trees", blob_files(blobs, root / "blobs"), **kw)  # type: ignore[arg-type]


def entries(
    container: Container, repository_id: str, commit_id: str, prefix: str = ""
) -> Iterator[TreeEntry]:
    return container.catalog.reads.tree_entries(repository_id, commit_id, prefix)


def as_sandbox(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`sh -c script` as the sandbox uid/gid with no capabilities, as a container runs it."""
    return subprocess.run(
        [
            "setpriv",
            f"--reuid={UID}",
            f"--regid={GID}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--",
            "sh",
            "-c",
            script,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
    )


@dataclass
class Overlay:
    merged: Path
    upper: Path
    lower: Path


@contextmanager
def overlay(lower: Path, base: Path) -> Iterator[Overlay]:
    """An overlay over `lower` with a per-sandbox upper/work owned by the sandbox uid."""
    upper, work, merged = base / "upper", base / "work", base / "merged"
    for d in (upper, work, merged):
        d.mkdir(parents=True)
    os.chown(upper, UID, GID)
    os.chown(work, UID, GID)
    subprocess.run(
        [
            "mount",
            "-t",
            "overlay",
            "overlay",
            "-o",
            f"lowerdir={lower},upperdir={upper},workdir={work}",
            str(merged),
        ],
        check=True,
    )
    try:
        yield Overlay(merged, upper, lower)
    finally:
        subprocess.run(["umount", str(merged)], check=True)


def unmount_under(base: Path) -> None:
    """Detach every mount below `base` (views a test left mounted), deepest first."""
    root = os.path.realpath(base) + "/"
    with open("/proc/self/mountinfo") as f:
        points = [line.split(" ")[4] for line in f]
    for point in sorted((p for p in points if p.startswith(root)), reverse=True):
        subprocess.run(["umount", "-l", point], check=False)
