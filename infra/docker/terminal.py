"""An interactive sandbox's pty through the engine: an attach with stdin on its TTY container.

The container was created with `Tty` and `OpenStdin` (not `StdinOnce`), so attaching and
detaching never closes the shell's stdin: a client may leave and another attach later. Bytes
written go to the pty's input side, so the line discipline applies (0x03 → SIGINT to the
foreground process group); resizes go through the engine's resize API (SIGWINCH inside)."""

from __future__ import annotations

import contextlib
import socket
import time
from typing import Any

from docker.errors import APIError, NotFound

from application.sandboxes.ports import SandboxGone
from infra.docker.streams import CHUNK, Hijacked, hijack

# The engine's default detach sequence (ctrl-p,ctrl-q) would swallow ctrl-p, which shells use
# for history; bytes matching a prefix of this one are only held back until the next byte.
DETACH_KEYS = "ctrl-^,ctrl-@,ctrl-^,ctrl-@"
# After the output ends, how long the engine may take to record the exit.
EXIT_WAIT_SECONDS = 5.0


class DockerTerminal:
    """`TerminalProcess` on a Docker attach (raw stream: a TTY is not multiplexed)."""

    def __init__(self, api: Any, container_id: str, conn: Hijacked) -> None:
        self._api = api
        self.container_id = container_id
        self._conn = conn

    @classmethod
    def attach(cls, api: Any, container_id: str) -> DockerTerminal:
        state = _state(api, container_id)
        if not state.get("Running"):
            raise SandboxGone("the sandbox's shell is no longer running")
        params = {"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1, "detachKeys": DETACH_KEYS}
        try:
            conn = hijack(api, f"/containers/{container_id}/attach", params=params)
        except NotFound as exc:
            raise SandboxGone(str(exc)) from exc
        except APIError as exc:
            if exc.status_code == 409:  # the container stopped meanwhile
                raise SandboxGone(str(exc.explanation or exc)) from exc
            raise
        return cls(api, container_id, conn)

    def write(self, data: bytes) -> None:
        self._conn.sock.sendall(data)

    def read(self) -> bytes:
        try:
            return self._conn.read1(CHUNK)
        except (OSError, ValueError):  # closed under the reader (a detach)
            return b""

    def resize(self, cols: int, rows: int) -> None:
        try:
            self._api.resize(self.container_id, height=rows, width=cols)
        except NotFound as exc:
            raise SandboxGone(str(exc)) from exc
        except APIError as exc:
            if exc.status_code != 409:  # not running any more: nothing to resize
                raise

    def exit_code(self) -> int | None:
        deadline = time.monotonic() + EXIT_WAIT_SECONDS
        while True:
            state = _state(self._api, self.container_id)
            if not state.get("Running") and not state.get("Restarting"):
                code = state.get("ExitCode")
                return int(code) if code is not None else None
            if time.monotonic() > deadline:
                return None
            time.sleep(0.01)

    def close(self) -> None:
        # A shutdown wakes the reader blocked in `read` (a close alone would wait for it).
        with contextlib.suppress(OSError):
            self._conn.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._conn.close()


def _state(api: Any, container_id: str) -> dict[str, Any]:
    try:
        return api.inspect_container(container_id)["State"]  # type: ignore[no-any-return]
    except NotFound as exc:
        raise SandboxGone(str(exc)) from exc
