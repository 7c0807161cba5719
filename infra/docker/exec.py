"""One `/exec` child: a Docker exec over the hijacked socket, pipes not a TTY."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from typing import Any

from docker.errors import APIError, NotFound

from application.sandboxes.ports import SandboxGone
from infra.docker.streams import FrameReader, Hijacked


class DockerExecProcess:
    """`ExecProcess` on a Docker exec: write/close_stdin half-close the socket (EOF)."""

    def __init__(self, api: Any, exec_id: str, conn: Hijacked, *, stdin: bool) -> None:
        self._api = api
        self.exec_id = exec_id
        self._conn = conn
        self._sock = conn.sock
        self._frames = FrameReader(conn)
        self._stdin_open = stdin
        if not stdin:
            self.close_stdin()

    def write(self, data: bytes) -> None:
        if not self._stdin_open:
            raise BrokenPipeError("the child's stdin is closed")
        self._sock.sendall(data)

    def close_stdin(self) -> None:
        """EOF for the child: the engine closes its stdin when the socket is half-closed."""
        self._stdin_open = False
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)

    def read(self) -> tuple[int, bytes] | None:
        return self._frames.read()

    def _inspect(self) -> dict[str, Any]:
        try:
            return self._api.exec_inspect(self.exec_id)  # type: ignore[no-any-return]
        except NotFound as exc:
            raise SandboxGone(str(exc)) from exc

    def wait(self) -> int:
        # The output ends a moment before the engine records the exit code.
        deadline = time.monotonic() + 10
        while True:
            state = self._inspect()
            if not state.get("Running") or time.monotonic() > deadline:
                self._close()
                code = state.get("ExitCode")
                return int(code) if code is not None else -1
            time.sleep(0.01)

    def kill(self) -> None:
        """SIGKILL the child (the engine has no exec kill: its host pid, on the engine's host)."""
        try:
            pid = int(self._inspect().get("Pid") or 0)
        except (SandboxGone, APIError):
            pid = 0
        if pid > 0:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        self._close()

    def _close(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.close()
