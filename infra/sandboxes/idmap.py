"""Idmapped, read-only views of host directories (Linux ≥ 5.19: `open_tree` + `mount_setattr`
+ `move_mount`, called through ctypes).

Blob files are owned by the server's user (root in production) and a sandbox runs as an
unprivileged uid with every capability dropped, so the hard-link tree is shown to the overlay
through a mount whose idmap says "the server's uid/gid are the sandbox's uid/gid": the
sandbox owns what it sees, writes copy up into its upper layer, and the inode on disk (the
blob store's own file) never changes — the view is read-only and overlayfs never writes to a
lower layer. No bytes are copied and no file is chowned.

The idmap is a user namespace whose only job is to carry a uid/gid map: a short-lived child
unshares it, the parent writes the maps and keeps a file descriptor of it open.
"""

from __future__ import annotations

import ctypes
import os
import re
import select
from pathlib import Path

SYS_OPEN_TREE = 428  # the same numbers on every architecture (the unified syscall table)
SYS_MOVE_MOUNT = 429
SYS_MOUNT_SETATTR = 442
AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_IDMAP = 0x100000
CLONE_NEWUSER = 0x10000000
MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class MountAttr(ctypes.Structure):
    """`struct mount_attr` (linux/mount.h, MOUNT_ATTR_SIZE_VER0)."""

    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


class IdmapUnavailable(OSError):
    """The kernel or our privileges do not allow idmapped mounts."""


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise IdmapUnavailable(err, f"{what}: {os.strerror(err)}")
    return result


def user_namespace(host_uid: int, uid: int, host_gid: int, gid: int) -> int:
    """A file descriptor of a user namespace mapping host_uid → uid and host_gid → gid, seen
    the way an idmapped mount reads it: a file owned by `host_uid` on disk appears owned by
    `uid`. Every other owner appears as the overflow id (nobody)."""
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover -- the child only unshares and waits
        try:
            os.close(ready_r)
            os.close(done_w)
            ok = _libc.unshare(CLONE_NEWUSER) == 0
            os.write(ready_w, b"1" if ok else b"0")
            os.read(done_r, 1)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(done_r)
    try:
        # Bounded: a child that dies before answering must not hang the server.
        # poll, not select: select() refuses descriptors past 1024 (a busy server has them).
        waiting = select.poll()
        waiting.register(ready_r, select.POLLIN)
        if not waiting.poll(10_000) or os.read(ready_r, 1) != b"1":
            raise IdmapUnavailable("could not create a user namespace for the idmap")
        # In the namespace id X maps to host id Y ("X Y 1"); an idmapped mount shows a file
        # whose on-disk owner is X as owned by Y.
        for name, line in (
            ("uid_map", f"{host_uid} {uid} 1\n"),
            ("setgroups", "deny\n"),
            ("gid_map", f"{host_gid} {gid} 1\n"),
        ):
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(line)
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(ready_r)
        os.close(done_w)  # the child reads EOF and exits
        os.waitpid(pid, 0)


def mount_view(source: Path, target: Path, userns_fd: int) -> None:
    """Mount `source` at `target` read-only (nosuid, nodev), idmapped through `userns_fd`."""
    fd = _check(
        _libc.syscall(
            SYS_OPEN_TREE,
            AT_FDCWD,
            os.fsencode(source),
            OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE,
        ),
        f"open_tree({source})",
    )
    try:
        attr = MountAttr(
            MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
            0,
            0,
            userns_fd,
        )
        _check(
            _libc.syscall(
                SYS_MOUNT_SETATTR,
                fd,
                b"",
                AT_EMPTY_PATH | AT_RECURSIVE,
                ctypes.byref(attr),
                ctypes.c_size_t(ctypes.sizeof(attr)),
            ),
            "mount_setattr(MOUNT_ATTR_IDMAP)",
        )
        _check(
            _libc.syscall(
                SYS_MOVE_MOUNT, fd, b"", AT_FDCWD, os.fsencode(target), MOVE_MOUNT_F_EMPTY_PATH
            ),
            f"move_mount(→ {target})",
        )
    finally:
        os.close(fd)


def unmount(target: Path) -> None:
    """Detach a view (lazily: an overlay still using it keeps it alive until it unmounts)."""
    if _libc.umount2(os.fsencode(target), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (22, 2):  # EINVAL: not a mount point; ENOENT: gone
            raise OSError(err, f"umount2({target}): {os.strerror(err)}")


def is_mounted(target: Path) -> bool:
    """Whether something is mounted at `target` (a bind of the same filesystem has the
    same device as its parent, so `os.path.ismount` cannot tell; mountinfo can)."""
    wanted = os.path.realpath(target)
    with open("/proc/self/mountinfo", "rb") as f:
        for line in f:
            point = line.split(b" ", 5)[4]
            if _unescape(point) == wanted:
                return True
    return False


def _unescape(field: bytes) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (`\\040`)."""
    return os.fsdecode(re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m[1], 8)]), field))
