"""Trigger conditions: parsing (lenient where the SDK is, precise errors) and matching by
lookups — one per condition, never a scan of the commit's changes."""

from __future__ import annotations

import bisect
from collections.abc import Iterator

import pytest

from domain.shared.errors import Invalid
from domain.triggers.conditions import Change, Condition, match, parse_conditions
from domain.triggers.config import check_sandbox_config


class FakeCommit:
    """A commit's changes sorted by path; counts the lookups made and the rows they read."""

    def __init__(self, changes: list[Change]) -> None:
        self.changes = sorted(changes, key=lambda c: c.path)
        self.paths = [c.path for c in self.changes]
        self.lookups = 0
        self.rows_read = 0

    def _range(self, prefix: str, diff_type: str) -> Iterator[Change]:
        i = bisect.bisect_left(self.paths, prefix)
        while i < len(self.paths) and self.paths[i].startswith(prefix):
            if diff_type in ("any", self.changes[i].change):
                yield self.changes[i]
            i += 1

    def under(self, prefix: str, diff_type: str, limit: int) -> list[Change]:
        self.lookups += 1
        out = []
        for change in self._range(prefix, diff_type):
            if len(out) == limit:
                break
            out.append(change)
        self.rows_read += len(out)
        return out

    def count_under(self, prefix: str, diff_type: str) -> int:
        self.lookups += 1  # an index range count in SQL
        return sum(1 for _ in self._range(prefix, diff_type))

    def each(self, prefix: str, diff_type: str) -> Iterator[Change]:
        return self._range(prefix, diff_type)

    def at(self, path: str) -> Change | None:
        self.lookups += 1
        i = bisect.bisect_left(self.paths, path)
        found = i < len(self.paths) and self.paths[i] == path
        self.rows_read += found
        return self.changes[i] if found else None


def test_parsing_is_lenient_where_the_sdk_is_and_precise_otherwise() -> None:
    parsed = parse_conditions(
        [
            {"type": "prefix", "prefix": "datasets/", "diff_type": "added"},
            {"type": "path_exact", "path": "a.csv", "diff_type": "modified"},
            {"type": "path_exact", "path": "b.csv"},
        ]
    )
    assert parsed == [
        Condition("prefix", "datasets/", "added"),
        Condition("path_exact", "a.csv", "changed"),
        Condition("path_exact", "b.csv", "any"),
    ]
    with pytest.raises(Invalid, match=r"conditions\[1\]: diff_type"):
        parse_conditions([{"type": "prefix", "prefix": ""}, {"type": "prefix", "prefix": "a",
                                                            "diff_type": "renamed"}])  # fmt: skip
    with pytest.raises(Invalid, match=r"conditions\[0\]: path must not start"):
        parse_conditions([{"type": "path_exact", "path": "/abs"}])
    with pytest.raises(Invalid, match="at most 10"):
        parse_conditions([{"type": "prefix", "prefix": ""}] * 11)


def test_sandbox_config_is_checked_like_create_sandbox() -> None:
    assert check_sandbox_config({"image": "busybox"})["mountpoint"] == "/sandbox"
    for bad, says in (
        ({"image": "busybox", "mode": "service"}, "mode"),
        ({"image": "busybox", "extra": 1}, "unknown fields: extra"),
        ({"image": "busy box"}, "image"),
        ({"image": "busybox", "mountpoint": "/"}, "mountpoint"),
        ({"image": "busybox", "timeout_seconds": True}, "timeout_seconds"),
        ({"image": "busybox", "env_vars": {"TILDE_COMMIT_ID": "x"}}, "reserved"),
        ({"image": "busybox", "env_vars": {"1A": "x"}}, "valid variable name"),
    ):
        with pytest.raises(Invalid, match=says):
            check_sandbox_config(bad)


def test_a_100k_change_commit_is_matched_by_lookups_not_scans() -> None:
    changes = [Change(f"logs/{i:06}.txt", "added", 1) for i in range(100_000)]
    changes += [Change("datasets/a.csv", "changed", 5), Change("datasets/b.csv", "removed", 2)]
    commit = FakeCommit(changes)
    conditions = [Condition("prefix", f"other{i}/") for i in range(8)]
    conditions += [Condition("prefix", "datasets/", "changed"), Condition("path_exact", "x")]
    found = match(conditions, commit)
    assert found.paths == ["datasets/a.csv"] and found.count == 1
    assert commit.lookups == 10 and commit.rows_read == 1


def test_matched_paths_are_capped_and_counted() -> None:
    commit = FakeCommit([Change(f"d/{i:04}", "added", 1) for i in range(1000)])
    found = match([Condition("prefix", "d/"), Condition("path_exact", "d/0001")], commit, cap=10)
    assert found.paths == [f"d/{i:04}" for i in range(10)] and found.count == 1000
    assert commit.rows_read <= 12  # the first cap + 1 rows and one point read, then a count
