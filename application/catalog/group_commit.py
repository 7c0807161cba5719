"""Group commit: saves that arrive while another is being written go out together, in one
transaction, instead of queueing one by one behind the event store's append lock.

Each caller prepares its own aggregates (its reads, its checks, its new events) and hands them
over; one of the waiting callers (the leader) records everything handed over so far with one
`save`, and every caller of that batch gets the batch's outcome. Nobody waits for a batch to
fill: a batch is whatever arrived while the previous one was being written, so a lone save
costs what it always did. A batch is atomic, so a lost race anywhere in it (two callers
appending to the same stream) fails all of it with the same `IntegrityError` a single save
would raise, and each caller retries on its own with fresh reads, as before.

Callers wait for their batch, or for the lead, on a `threading.Event`; a call on the event loop
that can suspend (`application.nonblocking.suspender`) waits by suspending instead, woken
by whoever sets its event, so threads and calls on the loop share batches.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from application.nonblocking import WouldBlock, suspender, waiting_allowed

T = TypeVar("T")


class _Handover:
    __slots__ = ("aggregates", "done", "error", "expect", "lead", "result", "wake")

    def __init__(self, aggregates: Sequence[Any], expect: Sequence[tuple[Any, int]]) -> None:
        self.aggregates = aggregates
        self.expect = expect
        self.done = threading.Event()  # set when the outcome is known, or to hand the lead
        self.lead = False
        self.result: Any = None
        self.error: BaseException | None = None
        self.wake: Callable[[], None] | None = None  # a suspended caller's alarm

    def settle(self) -> None:
        """Release the caller waiting on this handover (its outcome or the lead is set)."""
        self.done.set()
        if self.wake is not None:
            self.wake()


class GroupCommit(Generic[T]):
    """`save(aggregates)` with concurrent calls batched into one `record(*aggregates)`; a
    call's `expect` (streams that must still end at a version) joins the batch's, so a
    stream that moved fails the whole batch, as a lost race anywhere in it does."""

    def __init__(self, record: Callable[..., T], max_batch: int = 64) -> None:
        self._record = record
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Handover] = []
        self._writing = False  # a leader is recording a batch

    def save(self, aggregates: Sequence[Any], expect: Sequence[tuple[Any, int]] = ()) -> T:
        mine = _Handover(aggregates, expect)
        waiter = suspender()
        wait: Callable[[], object] = mine.done.wait
        if waiter is not None:
            mine.wake, wait = waiter.alarm()
        elif not waiting_allowed():
            # A caller that must not wait writes alone, and only when nobody is writing: in
            # someone else's batch it would wait, and a batch it led could fail the others
            # with its `WouldBlock`.
            with self._lock:
                if self._writing:
                    raise WouldBlock("another staging save is being written")
                self._writing = True
            self._write([mine])
            if mine.error is not None:
                raise mine.error
            return mine.result  # type: ignore[no-any-return]
        with self._lock:
            self._queue.append(mine)
            lead = not self._writing
            self._writing = True
        while not lead:
            wait()
            if not mine.lead:
                break  # recorded (or failed) in someone else's batch
            mine.done.clear()
            lead = True
        if lead:
            self._lead()
        if mine.error is not None:
            raise mine.error
        return mine.result  # type: ignore[no-any-return]

    def _lead(self) -> None:
        """Record the queue's head (this caller's own handover among it), then pass the lead
        to the next waiting caller, or stand down."""
        with self._lock:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
        self._write(batch)

    def _write(self, batch: list[_Handover]) -> None:
        """Record `batch` (the caller holds the lead), then pass the lead on or stand down."""
        expect = [pair for h in batch for pair in h.expect]
        try:
            if expect:
                result = self._record(*(a for h in batch for a in h.aggregates), expect=expect)
            else:
                result = self._record(*(a for h in batch for a in h.aggregates))
        except BaseException as e:  # every caller of the batch sees the save's failure
            for handover in batch:
                handover.error = e
        else:
            for handover in batch:
                handover.result = result
        finally:
            with self._lock:
                successor = self._queue[0] if self._queue else None
                self._writing = successor is not None
                if successor is not None:
                    successor.lead = True
                    successor.settle()
            for handover in batch:
                handover.settle()
