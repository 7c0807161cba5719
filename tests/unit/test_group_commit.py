"""Group commit: saves arriving while one is written go out together in the next record call;
a failed batch fails each of its callers; a lone save is recorded at once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from application.catalog.group_commit import GroupCommit
from application.nonblocking import WouldBlock, without_waiting


class Recorder:
    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.first = threading.Event()  # the first call has started
        self.release = threading.Event()  # let the first call finish
        self.fail_on = fail_on

    def record(self, *aggregates: str) -> tuple[str, ...]:
        self.calls.append(aggregates)
        if len(self.calls) == 1:
            self.first.set()
            assert self.release.wait(5)
        if self.fail_on in aggregates:
            raise ValueError(f"lost a race on {self.fail_on}")
        return aggregates


def _wait_queued(group: GroupCommit[Any], count: int) -> None:
    deadline = time.monotonic() + 5
    while len(group._queue) < count:
        assert time.monotonic() < deadline, "the callers never queued"
        time.sleep(0.001)


def test_saves_arriving_during_a_write_share_the_next_one_and_its_outcome() -> None:
    alone = Recorder()
    alone.release.set()
    assert GroupCommit(alone.record).save(["alone"]) == ("alone",)  # nobody writing: at once
    recorder = Recorder()
    group: GroupCommit[tuple[str, ...]] = GroupCommit(recorder.record)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(group.save, ["a1"])
        assert recorder.first.wait(5)
        later = [pool.submit(group.save, [f"b{i}", f"c{i}"]) for i in range(3)]
        _wait_queued(group, 3)
        recorder.release.set()
        assert first.result(5) == ("a1",)
        results = [f.result(5) for f in later]
    assert recorder.calls[0] == ("a1",)
    assert len(recorder.calls) == 2  # the three waiting saves went out together
    assert sorted(recorder.calls[1]) == ["b0", "b1", "b2", "c0", "c1", "c2"]
    assert all(r == recorder.calls[1] for r in results)
    assert not group._writing and not group._queue


def test_a_failed_batch_fails_every_caller_in_it_and_the_next_save_still_runs() -> None:
    recorder = Recorder(fail_on="bad")
    group: GroupCommit[tuple[str, ...]] = GroupCommit(recorder.record)
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(group.save, ["ok"])
        assert recorder.first.wait(5)
        good = pool.submit(group.save, ["good"])
        bad = pool.submit(group.save, ["bad"])
        _wait_queued(group, 2)
        recorder.release.set()
        assert first.result(5) == ("ok",)
        for future in (good, bad):
            with pytest.raises(ValueError, match="lost a race on bad"):
                future.result(5)
    assert group.save(["after"]) == ("after",)
    assert not group._writing and not group._queue


def test_a_save_that_must_not_wait_writes_alone_or_not_at_all() -> None:
    """`without_waiting`: while a batch is being written the save raises `WouldBlock` (nothing
    of it recorded); when nobody writes it records alone, and callers arriving meanwhile
    are written after it, in their own batch."""
    recorder = Recorder()
    group: GroupCommit[tuple[str, ...]] = GroupCommit(recorder.record)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(group.save, ["a"])
        assert recorder.first.wait(5)
        with without_waiting(), pytest.raises(WouldBlock):
            group.save(["refused"])
        recorder.release.set()
        assert first.result(5) == ("a",)
    assert recorder.calls == [("a",)]

    slow = Recorder()
    group = GroupCommit(slow.record)
    with ThreadPoolExecutor(2) as pool:

        def alone() -> tuple[str, ...]:
            with without_waiting():
                return group.save(["solo"])

        solo = pool.submit(alone)
        assert slow.first.wait(5)
        later = pool.submit(group.save, ["later"])
        _wait_queued(group, 1)
        slow.release.set()
        assert solo.result(5) == ("solo",)
        assert later.result(5) == ("later",)
    assert slow.calls == [("solo",), ("later",)]
    assert not group._writing and not group._queue


def test_a_batch_expects_what_each_of_its_saves_expects() -> None:
    expected: list[tuple[tuple[str, ...], tuple[tuple[str, int], ...]]] = []
    recorder = Recorder()

    def record(*aggregates: str, expect: tuple[tuple[str, int], ...] = ()) -> tuple[str, ...]:
        expected.append((aggregates, tuple(expect)))
        return recorder.record(*aggregates)

    group: GroupCommit[tuple[str, ...]] = GroupCommit(record)
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(group.save, ["a"], (("repo", 3),))
        assert recorder.first.wait(5)
        second = pool.submit(group.save, ["b"])
        _wait_queued(group, 1)  # queued in this order
        third = pool.submit(group.save, ["c"], (("session", 7),))
        _wait_queued(group, 2)
        recorder.release.set()
        assert first.result(5) == ("a",)
        assert second.result(5) == third.result(5) == ("b", "c")
    assert expected == [(("a",), (("repo", 3),)), (("b", "c"), (("session", 7),))]
    group.save(["d"])  # nothing expected: the record call gets no `expect` at all
    assert expected[-1] == (("d",), ())
