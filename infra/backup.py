"""Online backup and restore of an embedded data directory (SQLite files + local blobs)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

MANIFEST = "manifest.json"
FORMAT = 1
# Referenced streams are snapshotted after the streams that reference them (views before
# events, catalog before organizations before identity), so a snapshot never points at an
# event or a user a later snapshot lacks; unknown contexts reference these, so they go first.
_LAST = ("events/catalog.sqlite", "events/organizations.sqlite", "events/identity.sqlite")
# Scratch space of the blob store: bytes still arriving, multipart parts not yet completed.
_SKIPPED_BLOB_DIRS = (".tmp", ".uploads")
# The server secret, and the key-encryption keys of secrets (without them a restored data
# directory could not decrypt a single secret or connector config).
_KEY_FILES = ("secret.key", "secrets.key", "secrets.previous-keys")
# Directories whose files are never the server's databases (user bytes may be named anything).
_NOT_DATABASES = ("blobs", "locks", "mailbox")


class BackupError(Exception):
    """The backup or restore cannot proceed; the message says why."""


@dataclass
class Manifest:
    """What one backup holds, written last: a directory without it is not a backup."""

    format: int = FORMAT
    created_at: str = ""
    databases: list[str] = field(default_factory=list)
    blobs: int = 0
    missing_blobs: list[str] = field(default_factory=list)


def databases(data_dir: Path) -> list[str]:
    """The data directory's SQLite files (relative paths), in snapshot order."""
    found = sorted(
        str(p.relative_to(data_dir))
        for p in data_dir.rglob("*.sqlite")
        if p.relative_to(data_dir).parts[0] not in _NOT_DATABASES
    )
    views = [f for f in found if not f.startswith("events/")]
    events = [f for f in found if f.startswith("events/") and f not in _LAST]
    return views + events + [f for f in _LAST if f in found]


def _snapshot(source: Path, target: Path) -> None:
    """SQLite's online backup: one read transaction, so a consistent copy while writers run."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)  # pages=-1: the whole file in one step, one snapshot
        dst.execute("PRAGMA journal_mode=DELETE")  # a self-contained file, no -wal beside it
        if dst.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise BackupError(f"{target} failed SQLite's quick_check")
    finally:
        dst.close()
        src.close()


def _copy_blobs(source: Path, target: Path) -> int:
    """Copy every stored blob; each address is written once and never changes, so a file
    copied late is still the file the snapshot meant. A blob GC removes meanwhile is skipped."""
    copied = 0
    if not source.is_dir():
        return 0
    for dirpath, dirnames, filenames in os.walk(source):
        here = Path(dirpath)
        if here == source:
            dirnames[:] = [d for d in dirnames if d not in _SKIPPED_BLOB_DIRS]
        for name in filenames:
            into = target / here.relative_to(source) / name
            into.parent.mkdir(parents=True, exist_ok=True)
            try:
                shutil.copy2(here / name, into)
            except FileNotFoundError:
                continue
            copied += 1
    return copied


def _referenced_addresses(catalog: Path) -> set[str]:
    """Blob addresses the snapshot's catalog still needs (retained versions, staged objects)."""
    if not catalog.exists():
        return set()
    conn = sqlite3.connect(catalog)
    try:
        rows = conn.execute(
            "SELECT address FROM catalog_entries UNION SELECT address FROM catalog_staged"
        ).fetchall()
    except sqlite3.OperationalError:  # no catalog tables yet: nothing was ever stored
        return set()
    finally:
        conn.close()
    return {r[0] for r in rows if r[0]}


def _empty(path: Path) -> bool:
    return not path.exists() or not any(path.iterdir())


def backup(data_dir: Path, target: Path) -> Manifest:
    """Snapshot every SQLite file, then copy the blobs, into the empty directory `target`."""
    if not (data_dir / "events").is_dir():
        raise BackupError(f"{data_dir} holds no embedded event store (events/*.sqlite)")
    if not _empty(target):
        raise BackupError(f"{target} is not empty")
    target.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(created_at=datetime.now(UTC).isoformat())
    for name in databases(data_dir):
        _snapshot(data_dir / name, target / name)
        manifest.databases.append(name)
    manifest.blobs = _copy_blobs(data_dir / "blobs", target / "blobs")
    needed = _referenced_addresses(target / "events" / "catalog.sqlite")
    manifest.missing_blobs = sorted(a for a in needed if not (target / "blobs" / a).is_dir())
    for key_file in _KEY_FILES:
        if (data_dir / key_file).exists():
            shutil.copy2(data_dir / key_file, target / key_file)
            os.chmod(target / key_file, 0o600)
    (target / MANIFEST).write_text(json.dumps(asdict(manifest), indent=2) + "\n")
    return manifest


def restore(source: Path, data_dir: Path) -> Manifest:
    """Copy a backup into an empty data directory (the server is not running on it)."""
    try:
        manifest = Manifest(**json.loads((source / MANIFEST).read_text()))
    except (OSError, ValueError, TypeError) as e:
        raise BackupError(f"{source} is not a tilde-server backup ({e})") from None
    if manifest.format != FORMAT:
        raise BackupError(f"backup format {manifest.format} is not {FORMAT}")
    if (data_dir / "events").exists() or (data_dir / "views.sqlite").exists():
        raise BackupError(f"{data_dir} already holds data: restore only into an empty one")
    if (data_dir / "blobs").exists() and not _empty(data_dir / "blobs"):
        raise BackupError(f"{data_dir}/blobs is not empty")
    data_dir.mkdir(parents=True, exist_ok=True)
    for name in manifest.databases:
        _snapshot(source / name, data_dir / name)
    _copy_blobs(source / "blobs", data_dir / "blobs")
    for key_file in _KEY_FILES:
        if (source / key_file).exists():
            shutil.copy2(source / key_file, data_dir / key_file)
            os.chmod(data_dir / key_file, 0o600)
    return manifest
