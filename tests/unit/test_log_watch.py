"""LogWatch: cached entries are current while the generation read before loading them is, and
a generation moves on writes, on reconnects and when a due head check finds a log moved."""

from __future__ import annotations

import pytest

from application.authz import Authorizer
from application.cache import LogWatch
from tests.unit.test_authz_snapshot import FakeSource, snapshot

ORGS = ("organizations",)
BOTH = ("identity", "organizations")


class FakeLogs:
    """Log heads moved by hand; every event is of type "x" unless told otherwise."""

    def __init__(self) -> None:
        self.positions = {"identity": 0, "organizations": 0}
        self.types: dict[tuple[str, int], str] = {}
        self.reads = 0
        self.broken = False

    def heads(self) -> dict[str, int]:
        if self.broken:
            raise ConnectionError("database unreachable")
        self.reads += 1
        return dict(self.positions)

    def topics(self, log: str, after: int, upto: int) -> frozenset[str] | None:
        return frozenset(self.types.get((log, i), "x") for i in range(after + 1, upto + 1))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def watch_over(logs: FakeLogs, clock: Clock) -> LogWatch:
    return LogWatch(logs, interval=0.25, clock=clock)


def test_a_moved_head_changes_the_generation_at_the_next_due_check_and_not_before() -> None:
    logs, clock = FakeLogs(), Clock()
    watch = watch_over(logs, clock)
    first = watch.current(ORGS)
    assert logs.reads == 1
    logs.positions["organizations"] = 5  # another process wrote; its NOTIFY was lost
    clock.now += 0.2
    assert watch.current(ORGS) == first and logs.reads == 1  # within the interval: no I/O
    assert watch.current_without_io(ORGS) == first
    clock.now += 0.05
    assert watch.current_without_io(ORGS) is None  # due: only the I/O path may answer
    assert watch.current(ORGS) != first and logs.reads == 2


def test_a_log_that_did_not_move_keeps_its_generation() -> None:
    logs, clock = FakeLogs(), Clock()
    watch = watch_over(logs, clock)
    orgs, both = watch.current(ORGS), watch.current(BOTH)
    logs.positions["identity"] = 3
    clock.now += 1
    assert watch.current(ORGS) == orgs and watch.current(BOTH) != both


def test_writes_move_their_log_at_once_unless_only_ignored_types_were_appended() -> None:
    logs, clock = FakeLogs(), Clock()
    watch = watch_over(logs, clock)
    watch.ignore("ApiKey.Used")
    first = watch.current(BOTH)
    watch.appended("identity", {"ApiKey.Used"})
    assert watch.current(BOTH) == first
    watch.appended("identity", {"ApiKey.Used", "ApiKey.Revoked"})
    second = watch.current(BOTH)
    assert second != first
    watch.appended("identity", None)  # a NOTIFY that does not say
    assert watch.current(BOTH) != second


def test_a_head_check_ignores_appends_of_ignored_types_only() -> None:
    logs, clock = FakeLogs(), Clock()
    watch = watch_over(logs, clock)
    watch.ignore("ApiKey.Used")
    first = watch.current(BOTH)
    logs.positions["identity"] = 2
    logs.types.update({("identity", 1): "ApiKey.Used", ("identity", 2): "ApiKey.Used"})
    clock.now += 1
    assert watch.current(BOTH) == first
    logs.positions["identity"] = 3  # event 3 is of type "x"
    clock.now += 1
    assert watch.current(BOTH) != first


def test_a_reconnect_moves_every_log_and_forces_a_check() -> None:
    logs, clock = FakeLogs(), Clock()
    watch = watch_over(logs, clock)
    first = watch.current(BOTH)
    watch.moved()
    assert watch.current_without_io(BOTH) is None
    assert watch.current(BOTH) != first and logs.reads == 2


def test_a_failed_check_leaves_nothing_current() -> None:
    logs, clock = FakeLogs(), Clock()
    watch = watch_over(logs, clock)
    first = watch.current(BOTH)
    logs.broken = True
    clock.now += 1
    with pytest.raises(ConnectionError):
        watch.current(BOTH)
    logs.broken = False
    assert watch.current(BOTH) != first


def test_a_snapshot_loaded_while_the_log_moved_is_reloaded_next_time() -> None:
    source = FakeSource(snapshot())
    authorizer = Authorizer(source)
    load = source.load

    def load_during_a_write(org: str) -> object:
        loaded = load(org)
        authorizer.watch.moved("organizations")  # a removal lands before the snapshot is cached
        return loaded

    source.load = load_during_a_write  # type: ignore[method-assign]
    authorizer.snapshot("acme")
    source.load = load  # type: ignore[method-assign]
    assert authorizer.cached("acme") is None
    loads = source.loads
    authorizer.snapshot("acme")
    assert source.loads == loads + 1


def test_the_views_are_caught_up_once_per_generation_before_a_load() -> None:
    source = FakeSource(snapshot())
    authorizer = Authorizer(source)
    authorizer.snapshot("acme")
    authorizer.snapshot("nowhere")
    assert source.catch_ups == 1
    authorizer.watch.moved("organizations")
    authorizer.snapshot("acme")
    assert source.catch_ups == 2
