"""Wakes projectors on PostgreSQL NOTIFY (the event store notifies `<app>_events` per insert)."""

from __future__ import annotations

import contextlib
import os
import select
import threading
from collections.abc import Callable, Iterable

import psycopg
import structlog
from psycopg import sql

from infra.eventstore.postgres import parse_notify_payload
from infra.projections.runner import VIEWS_CHANNEL

log = structlog.get_logger("tilde.projections")


class PostgresNotifyListener:
    """One LISTEN connection per container; calls `on_notify(application, topics)` for each
    append by another container (`topics` None when the notification does not say),
    `on_view(name)` when a view advanced anywhere, and `on_connect()` each time LISTEN is in
    place: notifications sent while it was not (before the first connect, while reconnecting
    after a dropped connection) are lost, so what was built on them must be dropped."""

    def __init__(
        self,
        url: str,
        applications: Iterable[str],
        on_notify: Callable[[str, frozenset[str] | None], None],
        on_view: Callable[[str], None] | None = None,
        *,
        sender: str = "",
        on_connect: Callable[[], None] | None = None,
        reconnect_delay: float = 1.0,
        application_name: str = "",
        idle_wait: float = 0.5,
    ) -> None:
        self.url = url
        self.sender = sender
        self.channels = {f"{name.lower()}_events": name for name in applications}
        self.on_notify = on_notify
        self.on_view = on_view
        self.on_connect = on_connect
        self.reconnect_delay = reconnect_delay
        # Names the LISTEN session in pg_stat_activity (operators, fault-injection tests).
        self.application_name = application_name
        # How long one wait on the connection lasts when nothing arrives (a backstop: the
        # socket or stop() ends the wait first).
        self.idle_wait = idle_wait
        self._stop = threading.Event()
        # Set while LISTEN is in place (after `on_connect`), cleared when the connection is lost.
        self.connected = threading.Event()
        self._thread: threading.Thread | None = None
        # `stop()` writes to this pipe (made by `start()`) so that the wait on the connection
        # ends at once, not at its next timeout (every container's close would pay it).
        self._wake_r = self._wake_w = -1

    def start(self) -> None:
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="pg-listen", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):  # stopped before: the pipe is closed
            os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
            if self._thread.is_alive():
                return  # the thread still selects on the pipe: leave it open
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._wake_r = self._wake_w = -1

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    self.url,
                    autocommit=True,
                    connect_timeout=2,
                    application_name=self.application_name or "tilde-listen",
                ) as conn:
                    for channel in [*self.channels, VIEWS_CHANNEL]:
                        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    if self.on_connect is not None:
                        self.on_connect()
                    self.connected.set()
                    while not self._stop.is_set():
                        # What arrived (or was kept back while LISTEN ran), without waiting;
                        # then wait for more data or for stop().
                        for note in conn.notifies(timeout=0):
                            app = self.channels.get(note.channel)
                            if app is not None:
                                sender, topics = parse_notify_payload(note.payload)
                                if self.sender and sender == self.sender:
                                    continue  # our own append: its save woke our projectors
                                self.on_notify(app, topics)
                            elif note.channel == VIEWS_CHANNEL and self.on_view is not None:
                                self.on_view(note.payload)
                        select.select([conn.fileno(), self._wake_r], [], [], self.idle_wait)
            except psycopg.Error:
                self.connected.clear()
                log.warning("listen_connection_lost")
                self._stop.wait(self.reconnect_delay)
        self.connected.clear()
