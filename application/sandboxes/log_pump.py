"""Moving a sandbox container's output into the log store while it runs."""

from __future__ import annotations

import threading

import structlog

from application.sandboxes.ports import ContainerRuntime, Handle, LogStore

log = structlog.get_logger("tilde.sandboxes")


class LogPump:
    """Copies the container's output into the log store on its own thread: the container
    writes into the engine's log, so neither a slow store nor a slow reader blocks it."""

    def __init__(self, runtime: ContainerRuntime, logs: LogStore, handle: Handle, skip: int):
        self.runtime, self.logs, self.handle, self.skip = runtime, logs, handle, skip
        self.thread = threading.Thread(
            target=self._run, name=f"sandbox-log-{handle.sandbox_id[:8]}", daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def join(self, timeout: float) -> None:
        if self.thread.is_alive():
            self.thread.join(timeout)

    def _run(self) -> None:
        sid = self.handle.sandbox_id
        seq, skip = self._next_seq(), self.skip
        try:
            for chunk in self.runtime.output(self.handle):
                if skip:  # re-attached: what an earlier worker already stored
                    cut = min(skip, len(chunk))
                    chunk, skip = chunk[cut:], skip - cut
                if chunk:
                    seq += 1
                    self.logs.append(sid, seq, chunk)
        except Exception:
            log.warning("sandbox_log_pump_failed", sandbox=sid, exc_info=True)

    def _next_seq(self) -> int:
        return log_extent(self.logs, self.handle.sandbox_id)[0]


def log_extent(logs: LogStore, sandbox_id: str) -> tuple[int, int]:
    """(last seq, total bytes) already in the log (where a re-attached run resumes)."""
    extent = getattr(logs, "extent", None)
    if extent is not None:
        return extent(sandbox_id)  # type: ignore[no-any-return]
    chunks, _ = logs.read(sandbox_id, 0)
    return (chunks[-1][0] if chunks else 0, sum(len(data) for _, data in chunks))
