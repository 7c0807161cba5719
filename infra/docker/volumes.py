"""A sandbox's writable layer: a sparse ext4 image of `disk_bytes` mounted on the host, holding
the overlay's upper and work directories, and the `local` overlay volume the engine mounts.

The image caps what a run may write (ENOSPC inside the sandbox past it); the host tree behind
`lowerdir` is never written: overlayfs copies a file up before changing it."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from docker.errors import NotFound

# Free space under which a run counts as having hit the cap (a failed write leaves a little).
FULL_FRACTION = 64
FULL_MIN_BYTES = 1 << 20


class SandboxDisk:
    """`<root>/<sandbox id>/{disk.img, mnt/{upper,work}}`."""

    def __init__(self, root: Path, sandbox_id: str) -> None:
        self.dir = root / sandbox_id
        self.image = self.dir / "disk.img"
        self.mnt = self.dir / "mnt"
        self.upper = self.mnt / "upper"
        self.work = self.mnt / "work"

    def create(self, size: int, uid: int, gid: int) -> None:
        self.release()
        self.mnt.mkdir(parents=True, exist_ok=True)
        with open(self.image, "wb") as f:
            f.truncate(size)
        # No journal and no reserved blocks: a scratch layer, all of it the sandbox's.
        _run(
            "mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal",
            "-E", f"root_owner={uid}:{gid}", str(self.image),
        )  # fmt: skip
        _run("mount", "-o", "loop,nosuid,nodev", str(self.image), str(self.mnt))
        for directory in (self.upper, self.work):
            directory.mkdir()
            os.chown(directory, uid, gid)

    def mounted(self) -> bool:
        target = str(self.mnt.resolve()) if self.mnt.exists() else str(self.mnt)
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == target for line in f)

    def full(self) -> bool:
        """Whether the run filled the image (bytes or inodes)."""
        if not self.mounted():
            return False
        stat = os.statvfs(self.mnt)
        size = stat.f_blocks * stat.f_frsize
        free = stat.f_bavail * stat.f_frsize
        return free < max(FULL_MIN_BYTES, size // FULL_FRACTION) or stat.f_favail == 0

    def release(self) -> None:
        """Unmount (the loop device goes with it) and delete; idempotent."""
        if self.dir.exists() and self.mounted():
            _run("umount", str(self.mnt))
        shutil.rmtree(self.dir, ignore_errors=True)


def create_overlay_volume(
    api: Any, name: str, lower: Path, disk: SandboxDisk, labels: Mapping[str, str]
) -> None:
    for path in (lower, disk.upper, disk.work):
        # The local driver splits its options on commas; overlay splits lowerdir on colons.
        if "," in str(path) or ":" in str(path):
            raise ValueError(f"unsupported character in overlay path {path}")
    options = f"lowerdir={lower},upperdir={disk.upper},workdir={disk.work}"
    api.create_volume(
        name,
        driver="local",
        driver_opts={"type": "overlay", "device": "overlay", "o": options},
        labels=dict(labels),
    )


def remove_volume(api: Any, name: str) -> None:
    with contextlib.suppress(NotFound):
        api.remove_volume(name, force=True)


def _run(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)  # noqa: S603 (fixed argv)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed: {done.stderr.strip() or done.stdout.strip()}")
