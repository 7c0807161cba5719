"""Where a hot path's application call runs (`interfaces/http/hot_paths.py`): on the event loop
when that costs less than the hop to a thread and cannot block the loop, else on a thread.

- Embedded SQLite: reads, short appends and a small body's write (with its fsyncs, as each
  commit's WAL fsync) run on the loop, `without_waiting`: a call that would wait for a lock
  held elsewhere (another writer, another process) stops before it writes anything
  (`WouldBlock`) and runs again on a thread.
- PostgreSQL: the call runs in a greenlet on the loop whose waits for the database are
  awaited there (`infra.sql.bridge`): no thread sleeps and wakes per statement, and none per
  request for the hop to a thread and back.
- A small body's durable write (`PUT /_blob/u`, its fsyncs included) runs on the loop on
  either backend while the disk's fsyncs are quick (`DiskOnLoop`): the cheapest in CPU.
  Otherwise the blob writer process (`infra.localfs.writer_process`) does it and the loop
  awaits its answer: a slow fsync on the loop would stall every request, and on a thread
  each of its dozen system calls means winning the GIL back from the busy loop. Without
  the process (disabled, or restarting), a thread writes it.
- A call whose remainder would wait (read-your-writes for a view) hands that remainder to a
  thread. So does the log watch's due head check, once for all requests arriving meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from application.nonblocking import WouldBlock, without_waiting
from application.ports import BlobInfo
from infra.localfs import LocalBlobStore
from infra.localfs.signing import Grant
from infra.localfs.writer_process import Unavailable, WriterProcess
from infra.sql.bridge import run_on_loop
from interfaces.http.hot_requests import Fallback

# The content type Litestar gives a bytes answer (the blob routes' empty ones included).
TEXT = (b"content-type", b"text/plain; charset=utf-8")


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""


# The application call: an answer, or (when it ran on the loop and what is left would wait)
# the rest of the call, for a worker thread.
Work = Callable[[], "Answer | Callable[[], Answer]"]


class DiskOnLoop:
    """Whether a small body's durable write may run on the event loop now.

    On the loop it costs the least CPU (no hand-over to another process or thread), but the
    loop serves no other request meanwhile, so it runs there only while the disk's fsyncs
    are quick: a running average of those writes' durations (each measured on the loop) at
    most `limit` seconds. Above it, the writes go to the blob writer process, except one
    probe on the loop every `probe_every` seconds whose duration updates the average: a
    disk that turns quick again brings them back. Each write moves the average a quarter of
    the way towards its duration, counted at most `4 * limit`: a single stall, however
    long, sends the writes away for a probe or two at most (a 79 ms stall once kept them
    away for seconds), while a disk that stays slow is left after two or three writes."""

    def __init__(
        self,
        limit: float = 0.002,
        probe_every: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.probe_every = probe_every
        self.clock = clock
        self.average = 0.0
        self._next_probe = 0.0

    def here(self) -> bool:
        if self.average <= self.limit:
            return True
        now = self.clock()
        if now < self._next_probe:
            return False
        self._next_probe = now + self.probe_every
        return True

    def took(self, seconds: float) -> None:
        """A write on the loop took `seconds`; the next probe is due `probe_every` after it."""
        self.average += (min(seconds, 4 * self.limit) - self.average) / 4
        self._next_probe = self.clock() + self.probe_every


@dataclass(frozen=True)
class SmallBody:
    """A small body's durable write (`PUT /_blob/u`): called on the loop (or a worker
    thread), or handed to the blob writer process (`infra.localfs.writer_process`)."""

    store: LocalBlobStore
    grant: Grant
    body: bytes

    def __call__(self) -> Answer:
        return self.answer(self.store.store(self.grant, self.body))

    @staticmethod
    def answer(info: BlobInfo) -> Answer:
        return Answer(
            200,
            [
                (b"etag", f'"{info.etag}"'.encode()),
                TEXT,
                (b"content-length", b"0"),
            ],
        )


class HotCalls:
    """Runs the hot paths' application calls where they cost least (see the module)."""

    def __init__(self, container: Any) -> None:
        self.on_loop = not container.settings.is_postgres
        self.bridged = bool(container.settings.is_postgres)
        # Each call on the loop holds a pooled connection while it waits; more at once than
        # half the pool would leave few idle (the rest serve threads and background work).
        # The rest queue here.
        self._slots = max(1, container.settings.db_pool_size // 2)
        self._bridged_slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None
        # Cached keys and organization snapshots are current while the log watch's head
        # check is (`application.cache.LogWatch`): when one is due, the requests arriving
        # meanwhile wait for one check on a thread instead of all going the general way.
        self.watch = container.authorizer.watch
        self._checking: asyncio.Future[Any] | None = None
        blobs = container.blobs
        self.disk = DiskOnLoop()
        self.writer = (
            WriterProcess(blobs.root)
            if isinstance(blobs, LocalBlobStore) and container.settings.blob_writer_process
            else None
        )

    async def answer(
        self, work: Work, on_loop: bool, bridged: bool, writes: bool, disk: bool = False
    ) -> Answer:
        """Run `work` where the route allows (`on_loop` with SQLite, `bridged` with
        PostgreSQL, `disk`: a small body's durable write, on the loop while `self.disk`
        allows, else by the writer process; `writes`: it must finish even if the request
        is cancelled), else on a thread; the rest of a call that would wait goes to a
        thread too."""
        answer = None
        if disk:
            if self.disk.here():
                started = time.perf_counter()
                answer = self._here(work)
                self.disk.took(time.perf_counter() - started)
            elif self.writer is not None and isinstance(work, SmallBody):
                with contextlib.suppress(Unavailable):  # else a thread stores it
                    return work.answer(await self.writer.store(work.grant, work.body))
        elif on_loop and self.on_loop:
            answer = self._here(work)
        elif bridged and self.bridged:
            answer = await self._bridged(work, writes)
        if answer is None:
            answer = await asyncio.get_running_loop().run_in_executor(None, work)
        if not isinstance(answer, Answer):
            answer = await asyncio.get_running_loop().run_in_executor(None, answer)
        return answer

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    async def check_watch(self) -> None:
        """When the watch's head check is due: that check, shared by every request that finds
        it due meanwhile; Fallback when it fails (the general path meets the same failure and
        answers it)."""
        if self.watch.current_without_io(()) is not None:
            return
        if self._checking is None or self._checking.done():
            loop = asyncio.get_running_loop()
            self._checking = loop.run_in_executor(None, self.watch.current, ())
        try:
            await asyncio.shield(self._checking)
        except Exception:
            raise Fallback from None

    @staticmethod
    def _here(work: Work) -> Answer | Callable[[], Answer] | None:
        """`work` on the loop, or None when it would wait (it then wrote nothing)."""
        try:
            with without_waiting():
                return work()
        except WouldBlock:
            return None

    async def _bridged(self, work: Work, writes: bool) -> Answer | Callable[[], Answer] | None:
        """`work` on the loop with its database waits awaited (`run_on_loop`), or None when
        it would wait for a lock it cannot await (it then wrote nothing). A call that writes
        runs as its own task, so a cancelled request cannot stop it halfway (as a thread
        would not be stopped): once its turn in a group commit has come, others wait on it."""
        loop = asyncio.get_running_loop()
        if self._bridged_slots is None or self._bridged_slots[0] is not loop:
            # One per loop: a server has one, test clients start their own.
            self._bridged_slots = (loop, asyncio.Semaphore(self._slots))
        slots = self._bridged_slots[1]

        async def run() -> Answer | Callable[[], Answer] | None:
            async with slots:
                try:
                    return await run_on_loop(work)
                except WouldBlock:
                    return None

        if not writes:
            return await run()
        return await asyncio.shield(asyncio.ensure_future(run()))
