"""The network log of sandboxes: one NDJSON line per proxied request, appended to the
sandbox log store (stream `network`) by a background thread, so the proxy's loop never waits
for the database."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Mapping
from typing import Any

import structlog

from infra.sandboxes.logs import SqlLogStore

log = structlog.get_logger("tilde.egress")

# The fields of a network log line, in order (never bodies, never header values).
FIELDS = ("sandbox_id", "method", "url", "decision", "reason", "status", "bytes_in", "bytes_out",
          "duration_ms")  # fmt: skip


class NetworkLogWriter:
    """Appends log lines from a queue (the loop never waits for the database); lines of one
    sandbox that queued together become one chunk."""

    def __init__(self, store: SqlLogStore) -> None:
        self.store = store
        self.queue: queue.Queue[tuple[str, bytes | threading.Event | None]] = queue.Queue()
        self.seq: dict[str, int] = {}
        self.thread = threading.Thread(target=self._run, name="egress-log", daemon=True)
        self.thread.start()

    def resume(self, sandbox_id: str) -> None:
        if sandbox_id not in self.seq:
            self.seq[sandbox_id] = self.store.extent(sandbox_id)[0]

    def write(self, sandbox_id: str, entry: Mapping[str, Any]) -> None:
        self.queue.put((sandbox_id, json.dumps(entry, separators=(",", ":")).encode() + b"\n"))

    def flush(self, sandbox_id: str) -> None:
        done = threading.Event()
        self.queue.put((sandbox_id, done))
        done.wait(10)

    def stop(self) -> None:
        self.queue.put(("", None))
        self.thread.join(5)

    def _run(self) -> None:
        while True:
            batch = [self.queue.get()]
            while not self.queue.empty() and len(batch) < 1000:
                batch.append(self.queue.get_nowait())
            pending: dict[str, list[bytes]] = {}
            events: list[threading.Event] = []
            stop = False
            for sandbox_id, item in batch:
                if item is None:
                    stop = True
                elif isinstance(item, threading.Event):
                    events.append(item)
                else:
                    pending.setdefault(sandbox_id, []).append(item)
            for sandbox_id, lines in pending.items():
                try:
                    self.resume(sandbox_id)
                    self.seq[sandbox_id] += 1
                    self.store.append(sandbox_id, self.seq[sandbox_id], b"".join(lines))
                except Exception:
                    log.warning("egress_log_append_failed", sandbox=sandbox_id, exc_info=True)
            for event in events:
                event.set()
            if stop:
                return
