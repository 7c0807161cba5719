"""Synchronous database code run on the event loop, its PostgreSQL waits handed to the loop.

A hot request's application call is ordinary synchronous code (aggregates, the recorder,
psycopg). On a worker thread every statement sleeps the thread until PostgreSQL answers, and
the hop to the thread and back wakes two more: on this machine kind each sleep and wake costs
more CPU than the statement itself. `run_on_loop(call)` runs the call in a greenlet on the
loop instead; when psycopg would wait for the socket (`LoopConnection.wait`), the greenlet
switches back to the loop with a future for the socket's readiness, the loop serves other
requests meanwhile, and switches back into the call when PostgreSQL has answered. The same
statements run in the same order on the same connection: only who waits changes. (SQLAlchemy's
asyncio support bridges its synchronous core the same way.)

What must not happen on the loop is blocking the thread. The call runs `without_waiting`
with a `Suspender` (`application.nonblocking`): what it waits for that others will do (its
turn in a group commit, a retry's pause, an idle pooled connection) it awaits on the loop,
and a lock it cannot wait for that way raises `WouldBlock` before anything is written, so the
caller runs the call again on a thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
import psycopg_pool
from greenlet import getcurrent, greenlet
from psycopg.rows import DictRow
from psycopg.waiting import Ready, Wait

from application.nonblocking import suspending, without_waiting

T = TypeVar("T")


class _OnLoop(greenlet):  # type: ignore[misc]
    """A call running on the loop: its waits on a socket go to `loop`."""

    loop: asyncio.AbstractEventLoop


def on_loop() -> bool:
    """Whether this code runs inside `run_on_loop` (its waits must go to the loop)."""
    return isinstance(getcurrent(), _OnLoop)


async def run_on_loop(call: Callable[[], T]) -> T:
    """`call()` on the loop, `without_waiting`; its socket waits are awaited here. Raises what
    the call raises (`WouldBlock` included: nothing was written, run it on a thread)."""

    loop = asyncio.get_running_loop()

    def body() -> T:
        with without_waiting(), suspending(_LoopSuspender(loop)):
            return call()

    child = _OnLoop(body, parent=getcurrent())
    child.loop = loop
    child.gr_context = contextvars.copy_context()  # request-scoped log context and flags
    step: Any = child.switch()
    while not child.dead:
        try:
            value = await step
        except BaseException as e:  # cancelled: psycopg sees it mid-wait, the pool drops
            step = child.throw(e)  # the connection (it comes back ACTIVE)
        else:
            step = child.switch(value)
    return step  # type: ignore[no-any-return]


class _LoopSuspender:
    """`application.nonblocking.Suspender` for a call inside `run_on_loop`."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def sleep(self, seconds: float) -> None:
        _await(asyncio.sleep(seconds))

    def alarm(self) -> tuple[Callable[[], None], Callable[[], None]]:
        rung: asyncio.Future[None] = self.loop.create_future()

        def ring() -> None:
            if not rung.done():
                rung.set_result(None)

        def wake() -> None:  # from any thread, this loop's included
            self.loop.call_soon_threadsafe(ring)

        def wait() -> None:
            _await(rung)

        return wake, wait


def _await(awaitable: Awaitable[T]) -> T:
    """Inside `run_on_loop`: suspend this call until `awaitable` is done on the loop."""
    return getcurrent().parent.switch(awaitable)  # type: ignore[no-any-return]


def _wait_on_loop(gen: Any, fileno: int) -> Any:
    """psycopg's wait (`psycopg.waiting.wait_async`, without a task per wait): drive the
    connection's generator, each readiness it waits for awaited on the loop."""
    me = getcurrent()
    loop: asyncio.AbstractEventLoop = me.loop
    try:
        state = next(gen)
        while True:
            ready: asyncio.Future[int] = loop.create_future()

            def wake(what: int, ready: asyncio.Future[int] = ready) -> None:
                if not ready.done():
                    ready.set_result(what)

            reading = bool(state & Wait.R)
            writing = bool(state & Wait.W)
            if reading:
                loop.add_reader(fileno, wake, Ready.R)
            if writing:
                loop.add_writer(fileno, wake, Ready.W)
            try:
                what = _await(ready)
            finally:
                if reading:
                    loop.remove_reader(fileno)
                if writing:
                    loop.remove_writer(fileno)
            state = gen.send(what)
    except StopIteration as done:
        return done.value


class LoopConnection(psycopg.Connection[DictRow]):
    """The pool's connections: on a worker thread psycopg's own wait; inside `run_on_loop`
    the loop waits (`_wait_on_loop`)."""

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        if isinstance(getcurrent(), _OnLoop) and timeout is None:
            return _wait_on_loop(gen, self.pgconn.socket)
        return super().wait(gen, interval, timeout)


# How often a call on the loop looks again for an idle connection, and how long it may block
# the loop when the last idle one went to another thread between its look and its take.
_LOOK_AGAIN = 0.001
_RACE_WAIT = 0.002


def checkout(pool: psycopg_pool.ConnectionPool[Any]) -> Any:
    """A connection of `pool` for a call inside `run_on_loop`: an idle one, else awaited on the
    loop (looking again every millisecond, the pool asked to grow as a waiting client would
    make it) up to the pool's timeout, then the pool's own `PoolTimeout`. Waiting in the pool
    would block every call on the loop, those holding connections included. The pool's
    `getconn(timeout=0)` refuses even with idle connections, hence the look at its idle queue
    first (`_pool`; `_maybe_grow_pool` under `_lock`: psycopg_pool 3.2+)."""
    deadline = time.monotonic() + pool.timeout
    while True:
        idle = getattr(pool, "_pool", None)
        if idle is None or idle:
            try:
                return pool.getconn(timeout=_RACE_WAIT)
            except psycopg_pool.PoolTimeout:
                pass
        else:
            grow = getattr(pool, "_maybe_grow_pool", None)
            if grow is not None:
                with pool._lock:
                    grow()
        if time.monotonic() >= deadline:
            raise psycopg_pool.PoolTimeout(f"couldn't get a connection after {pool.timeout} sec")
        _await(asyncio.sleep(_LOOK_AGAIN))
