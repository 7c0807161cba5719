"""Trigger conditions (prefix, exact path) and how a commit's changes match them.

Matching never scans a commit: a prefix condition is one range lookup in the commit's
changes, an exact path one point lookup, so its cost follows the conditions and the matches,
not the size of the commit (`ChangeLookup` is the catalog's side of it)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from domain.catalog.paths import check_path, check_prefix
from domain.shared.errors import Invalid

MAX_CONDITIONS = 10
DIFF_TYPES = ("any", "added", "removed", "changed")
# What the official SDK's tests send: `modified` means `changed`.
DIFF_ALIASES = {"modified": "changed"}
# `matched_paths` keeps at most this many paths per run; `matched_count` counts them all.
MATCHED_PATHS_CAP = 100


@dataclass(frozen=True)
class Condition:
    """One condition; a trigger fires when any of its conditions matches (OR)."""

    type: str  # "prefix" | "path_exact"
    value: str  # the prefix or the exact path
    diff_type: str = "any"

    def as_dict(self) -> dict[str, str]:
        key = "prefix" if self.type == "prefix" else "path"
        return {"type": self.type, key: self.value, "diff_type": self.diff_type}


@dataclass(frozen=True)
class Change:
    """One path a commit changed: `change` is added, removed or changed (existed before and
    after); `size` is the new size (the old one for a removal)."""

    path: str
    change: str
    size: int


class ChangeLookup(Protocol):
    """Lookups in one commit's changes (the catalog's per-commit changes table)."""

    def under(self, prefix: str, diff_type: str, limit: int) -> list[Change]:
        """Up to `limit` changes under `prefix` of that diff type ("any": all), by path."""
        ...

    def count_under(self, prefix: str, diff_type: str) -> int: ...

    def each(self, prefix: str, diff_type: str) -> Iterator[Change]:
        """Every change under `prefix` of that diff type, by path, read page by page."""
        ...

    def at(self, path: str) -> Change | None: ...


def _diff_type(value: object, where: str) -> str:
    if value is None or value == "":
        return "any"
    if not isinstance(value, str):
        raise Invalid(f"{where}: diff_type must be a string")
    value = DIFF_ALIASES.get(value, value)
    if value not in DIFF_TYPES:
        raise Invalid(f"{where}: diff_type must be one of {', '.join(DIFF_TYPES)}")
    return value


def parse_condition(raw: object, index: int) -> Condition:
    where = f"conditions[{index}]"
    if not isinstance(raw, dict):
        raise Invalid(f"{where} must be an object")
    kind = raw.get("type")
    diff_type = _diff_type(raw.get("diff_type"), where)
    try:
        if kind == "prefix":
            prefix = raw.get("prefix")
            if not isinstance(prefix, str):
                raise Invalid('prefix is required (a string; "" matches every path)')
            return Condition("prefix", check_prefix(prefix), diff_type)
        if kind == "path_exact":
            return Condition("path_exact", check_path(raw.get("path"), "path"), diff_type)
    except Invalid as e:
        raise Invalid(f"{where}: {e.message}") from None
    raise Invalid(f"{where}: type must be 'prefix' or 'path_exact'")


def parse_conditions(value: object) -> list[Condition]:
    """1 to 10 valid conditions, or `Invalid` naming the first bad one."""
    if not isinstance(value, list) or not value:
        raise Invalid("conditions must be a list of 1 to 10 conditions")
    if len(value) > MAX_CONDITIONS:
        raise Invalid(f"conditions allows at most {MAX_CONDITIONS} conditions")
    return [parse_condition(raw, i) for i, raw in enumerate(value)]


def conditions_of(stored: list[dict[str, Any]]) -> list[Condition]:
    """Conditions as the trigger's events store them (already valid)."""
    return [parse_condition(raw, i) for i, raw in enumerate(stored)]


def _matches(change: Change, diff_type: str) -> bool:
    return diff_type == "any" or change.change == diff_type


@dataclass(frozen=True)
class Match:
    """What a commit matched: the first paths (capped) and how many there were in all."""

    paths: list[str]
    count: int

    @property
    def matched(self) -> bool:
        return self.count > 0


def match(conditions: list[Condition], lookup: ChangeLookup, cap: int = MATCHED_PATHS_CAP) -> Match:
    """Evaluate the conditions against one commit (OR): one lookup per condition, plus one
    count per prefix that matched more than `cap` paths."""
    paths: dict[str, None] = {}
    count = 0
    for condition in conditions:
        if condition.type == "path_exact":
            change = lookup.at(condition.value)
            if change is not None and _matches(change, condition.diff_type):
                if change.path not in paths:
                    count += 1
                paths[change.path] = None
            continue
        found = lookup.under(condition.value, condition.diff_type, cap + 1)
        new = [c.path for c in found if c.path not in paths]
        if len(found) > cap:
            # Overlapping conditions may count a path twice here: the count is a bound
            # beyond the cap, the listed paths are exact.
            count += lookup.count_under(condition.value, condition.diff_type) - (
                len(found) - len(new)
            )
        else:
            count += len(new)
        for path in new:
            paths[path] = None
    return Match(list(paths)[:cap], count)
