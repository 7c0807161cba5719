"""What a run changed, read from a real overlayfs upper layer: adds, modifies, deletes,
opaque folders, folders and files replacing each other, unchanged rewrites (no change),
and what an object store cannot hold (symlinks, FIFOs: skipped)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from application.sandboxes.ports import Change
from infra.sandboxes.changes import OverlayChangeCollector, UnsupportedOverlay
from tests.sandbox_trees import Overlay, overlay, unmount_under

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts need root")

LOWER = {
    "keep.txt": b"keep",
    "edit.txt": b"before",
    "same.txt": b"same bytes",
    "gone.txt": b"gone",
    "olddir/a": b"a",
    "olddir/sub/b": b"b",
    "replaced/x": b"x",
    "replaced/y": b"y",
    "file2dir": b"was a file",
    "dir2file/z": b"z",
}


@pytest.fixture
def ov(tmp_path: Path) -> Iterator[Overlay]:
    lower = tmp_path / "lower"
    for path, data in LOWER.items():
        (lower / path).parent.mkdir(parents=True, exist_ok=True)
        (lower / path).write_bytes(data)
    with overlay(lower, tmp_path / "sb") as mounted:
        yield mounted
    unmount_under(tmp_path)


def _run(ov: Overlay, script: str) -> list[Change]:
    subprocess.run(["sh", "-ec", script], cwd=ov.merged, check=True)
    return list(OverlayChangeCollector().changes(ov.upper, ov.lower))


def _summary(changes: list[Change]) -> dict[str, str]:
    out = {}
    for c in changes:
        out[c.path] = c.kind if c.kind == "delete" else "put:" + c.source.read_text()  # type: ignore[union-attr]
    return out


def test_adds_modifies_and_deletes_are_collected(ov: Overlay) -> None:
    changes = _run(
        ov,
        "echo -n after > edit.txt; echo -n new > new.txt; mkdir -p n/m; echo -n deep > n/m/f;"
        " rm gone.txt; rm -r olddir",
    )
    assert _summary(changes) == {
        "edit.txt": "put:after",
        "new.txt": "put:new",
        "n/m/f": "put:deep",
        "gone.txt": "delete",
        "olddir/a": "delete",
        "olddir/sub/b": "delete",
    }


def test_rewriting_the_same_bytes_or_touching_is_no_change(ov: Overlay) -> None:
    changes = _run(
        ov,
        "cp same.txt /tmp/x.$$; cat /tmp/x.$$ > same.txt; rm /tmp/x.$$; touch keep.txt;"
        " chmod 600 edit.txt",
    )
    assert (ov.upper / "same.txt").exists() and (ov.upper / "keep.txt").exists()
    assert changes == []


def test_an_opaque_folder_deletes_the_lower_objects_it_no_longer_holds(ov: Overlay) -> None:
    changes = _run(
        ov, "rm -r replaced; mkdir replaced; echo -n x > replaced/x; echo -n w > replaced/w"
    )
    assert os.getxattr(ov.upper / "replaced", "trusted.overlay.opaque") == b"y"
    # x was re-created with its old bytes: no change; y is gone; w is new.
    assert _summary(changes) == {"replaced/y": "delete", "replaced/w": "put:w"}


def test_files_and_folders_replacing_each_other(ov: Overlay) -> None:
    changes = _run(
        ov,
        "rm file2dir; mkdir file2dir; echo -n in > file2dir/f;"
        " rm -r dir2file; echo -n f > dir2file",
    )
    assert _summary(changes) == {
        "file2dir": "delete",
        "file2dir/f": "put:in",
        "dir2file/z": "delete",
        "dir2file": "put:f",
    }


def test_symlinks_and_fifos_are_skipped_and_reported(ov: Overlay) -> None:
    collector = OverlayChangeCollector()
    subprocess.run(
        ["sh", "-ec", "ln -s keep.txt link; mkfifo pipe; echo -n r > real"],
        cwd=ov.merged,
        check=True,
    )
    changes = list(collector.changes(ov.upper, ov.lower))
    assert _summary(changes) == {"real": "put:r"}
    assert sorted(collector.skipped) == ["link", "pipe"]


def test_an_upper_layer_with_metacopy_is_refused(ov: Overlay) -> None:
    subprocess.run(["sh", "-ec", "echo -n z > meta"], cwd=ov.merged, check=True)
    os.setxattr(ov.upper / "meta", "trusted.overlay.metacopy", b"")
    with pytest.raises(UnsupportedOverlay, match="metacopy"):
        list(OverlayChangeCollector().changes(ov.upper, ov.lower))


def test_the_walk_reads_only_the_upper_layer(ov: Overlay, tmp_path: Path) -> None:
    # 2,000 untouched lower files: collecting one change never lists them.
    for i in range(2000):
        (ov.lower / f"bulk{i}").write_bytes(b".")
    seen: list[str] = []
    real_scandir = os.scandir

    def spy(path: object = ".") -> object:
        seen.append(str(path))
        return real_scandir(path)  # type: ignore[call-overload]

    subprocess.run(["sh", "-ec", "echo -n 1 > one"], cwd=ov.merged, check=True)
    os.scandir = spy  # type: ignore[assignment]
    try:
        changes = list(OverlayChangeCollector().changes(ov.upper, ov.lower))
    finally:
        os.scandir = real_scandir
    assert _summary(changes) == {"one": "put:1"}
    assert all(p.startswith(str(ov.upper)) for p in seen), seen
