"""`/exec`: one child process per WebSocket connection in a running sandbox (COMPAT §5.7).

Frames are binary, first byte = type: client `0x00` launch JSON `{"cmd", "env"?, "cwd"?}`
(first), `0x01` stdin bytes, `0x02` stdin EOF; server `0x03` stdout, `0x04` stderr, `0x05`
exit JSON `{"exit_code", "reason", "error"}` and then the server closes. Text, empty and
unknown frames are ignored. The child gets pipes (no TTY), `env` merged over the container's,
`cwd` defaulting to the sandbox's mountpoint.

Stdin rule: the official SDK sends nothing after the launch frame when it has no stdin (the
child "inherits a closed stdin"), so a child reading stdin must not wait forever. The child's
stdin stays open only if the client's first frame after the launch (`0x01` or `0x02`) arrives
within `STDIN_WINDOW_SECONDS` of the child's start; otherwise stdin is closed and later
stdin frames are dropped.

Refusals happen before the upgrade, as HTTP answers with the spec's error body (ASGI's
WebSocket denial response): 401/403 from the guard, 404 unknown sandbox, 410 finished,
503 not ready or its engine unreachable. Each exec is recorded on the sandbox (principal,
argv, cwd, exit code, duration; never env values), so the organization's audit log shows it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from typing import Any

import anyio.to_thread
import structlog
from litestar import Controller, WebSocket, websocket

from application.principal import Principal
from application.sandboxes.ports import (
    ContainerRuntime,
    ExecProcess,
    Handle,
    RuntimeUnavailable,
    SandboxGone,
)
from domain.shared.errors import Gone, Invalid, Unavailable
from infra.bootstrap import Container
from interfaces.http.controllers.sandbox_logs import TERMINAL, sandboxes_of
from interfaces.http.websockets import refuse_before_accept

log = structlog.get_logger("tilde.sandbox_exec")

LAUNCH, STDIN, STDIN_EOF, STDOUT, STDERR, EXIT = range(6)
STDIN_WINDOW_SECONDS = 1.0
# A client that connects and never sends its launch frame is closed after this long.
LAUNCH_TIMEOUT_SECONDS = 30.0
MAX_LAUNCH_BYTES = 256 * 1024
# Output frames queued for a slow client before the child's pipes fill and it waits.
OUTPUT_QUEUE = 64


def runtime_for(container: Container, engine: str) -> ContainerRuntime:
    """The runtime that reaches `engine` (where the sandbox was prepared)."""
    runtimes = container.services.get("sandbox_runtimes")
    runtime = runtimes(engine) if callable(runtimes) else container.services.get("sandbox_runtime")
    if runtime is None or getattr(runtime, "engine", None) != engine:
        raise Unavailable(
            f"the sandbox's container engine ({engine}) is not reachable from this server",
            retry_after=1,
        )
    return runtime  # type: ignore[no-any-return]


def exec_target(
    container: Container, org_id: str, repository: str, sandbox_id: str
) -> tuple[Handle, str, ContainerRuntime]:
    """Where a child of this sandbox runs: its handle, its mountpoint, its engine's runtime."""
    record = sandboxes_of(container).in_repository(org_id, repository, sandbox_id).record()
    status = record["status"]
    if status in TERMINAL:
        raise Gone(f"the sandbox has already finished ({status})")
    if status != "running" or not record.get("container_id"):
        raise Unavailable("the sandbox is not running yet; retry when its status is running")
    handle = Handle(
        sandbox_id=str(record["id"]),
        engine=record["engine"],
        container_id=record["container_id"],
        volume_name=record.get("volume_name", ""),
        network_name=record.get("network_name", ""),
    )
    return handle, record["mountpoint"], runtime_for(container, record["engine"])


# -- the launch frame ----------------------------------------------------------------------


def parse_launch(payload: bytes, mountpoint: str) -> tuple[list[str], dict[str, str], str]:
    """`cmd` a non-empty list of strings, `env` string → string, `cwd` an absolute path."""
    if len(payload) > MAX_LAUNCH_BYTES:
        raise Invalid(f"the launch frame exceeds {MAX_LAUNCH_BYTES} bytes")
    try:
        launch = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as e:
        raise Invalid("the launch frame is not valid JSON") from e
    if not isinstance(launch, dict):
        raise Invalid("the launch frame must be a JSON object")
    cmd = launch.get("cmd")
    if not isinstance(cmd, list) or not cmd or not all(isinstance(a, str) for a in cmd):
        raise Invalid("'cmd' must be a non-empty list of strings")
    env = launch.get("env") or {}
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in env.items()
    ):
        raise Invalid("'env' must be an object of string values")
    for key in env:
        if not key or "=" in key or "\x00" in key:
            raise Invalid(f"'env' has an invalid variable name {key[:64]!r}")
    cwd = launch.get("cwd") or mountpoint
    if not isinstance(cwd, str) or not cwd.startswith("/"):
        raise Invalid("'cwd' must be an absolute path")
    if any("\x00" in s for s in [*cmd, *env.values(), cwd]):
        raise Invalid("NUL characters are not allowed in 'cmd', 'env' or 'cwd'")
    return list(cmd), dict(env), cwd


def exit_frame(exit_code: int, reason: str, error: str = "") -> bytes:
    body = {"exit_code": exit_code, "reason": reason, "error": error}
    return bytes([EXIT]) + json.dumps(body).encode()


# -- one child ---------------------------------------------------------------------------------


class ExecSession:
    """Bridges one WebSocket and one child: output pumped by a thread, stdin by the socket."""

    def __init__(self, socket: WebSocket[Any, Any, Any], process: ExecProcess) -> None:
        self.socket = socket
        self.process = process
        self.loop = asyncio.get_running_loop()
        self.output: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue(OUTPUT_QUEUE)
        self.disconnected = False
        self.finished = threading.Event()

    def _put(self, item: tuple[int, bytes] | None) -> bool:
        """Queue `item` for the socket, waiting while the client is slow; False once the
        session is over (nobody will read the queue again)."""
        future = asyncio.run_coroutine_threadsafe(self.output.put(item), self.loop)
        while True:
            try:
                future.result(timeout=0.5)
                return True
            except TimeoutError:
                if self.finished.is_set():
                    future.cancel()
                    return False

    def _pump(self) -> None:
        """Thread: the child's output into the queue (blocks while the client is slow)."""
        try:
            while (item := self.process.read()) is not None:
                if not self._put(item):
                    return
        except Exception:  # the engine failed mid-read: the child's end is reported as is
            log.warning("exec_output_failed", exc_info=True)
        with suppress(RuntimeError):  # the event loop is gone
            self._put(None)

    async def _send_output(self) -> None:
        while (item := await self.output.get()) is not None:
            stream, data = item
            await self.socket.send_bytes(bytes([STDOUT if stream == 1 else STDERR]) + data)

    async def _next_frame(self) -> bytes | None:
        """The next binary frame's bytes; None when the client left."""
        while True:
            message = await self.socket.receive()
            if message["type"] == "websocket.disconnect":
                self.disconnected = True
                return None
            if data := _binary(message):
                return data

    async def _feed_stdin(self) -> None:
        stdin_open = True
        try:
            frame = await asyncio.wait_for(self._next_frame(), STDIN_WINDOW_SECONDS)
        except TimeoutError:
            frame = b""
            stdin_open = False
            with suppress(OSError):
                await anyio.to_thread.run_sync(self.process.close_stdin)
        while True:
            if frame is None:
                return
            try:
                if stdin_open and frame[:1] == bytes([STDIN]) and len(frame) > 1:
                    await anyio.to_thread.run_sync(self.process.write, frame[1:])
                elif stdin_open and frame[:1] == bytes([STDIN_EOF]):
                    stdin_open = False
                    await anyio.to_thread.run_sync(self.process.close_stdin)
            except OSError:  # the child closed its stdin or ended: later input is dropped
                stdin_open = False
            frame = await self._next_frame()

    async def run(self) -> int | None:
        """The child's exit code; None when the client left first (the child is killed)."""
        threading.Thread(target=self._pump, name="sandbox-exec-output", daemon=True).start()
        sender = asyncio.create_task(self._send_output())
        feeder = asyncio.create_task(self._feed_stdin())
        try:
            await asyncio.wait({sender, feeder}, return_when=asyncio.FIRST_COMPLETED)
            if not sender.done() and not self.disconnected:
                await asyncio.wait({sender})  # stdin failed: the output still goes out
            if sender.done() and sender.exception() is None:
                return await anyio.to_thread.run_sync(self.process.wait)
            # The client left (or its socket failed while we sent): nobody reads the exit.
            self.disconnected = True
            await anyio.to_thread.run_sync(self.process.kill)
            return None
        finally:
            self.finished.set()
            feeder.cancel()
            sender.cancel()


async def run_exec(
    socket: WebSocket[Any, Any, Any],
    container: Container,
    handle: Handle,
    mountpoint: str,
    runtime: ContainerRuntime,
    principal: Principal,
) -> None:
    try:
        frame = await asyncio.wait_for(_first_frame(socket), LAUNCH_TIMEOUT_SECONDS)
    except TimeoutError:
        await _close(socket, exit_frame(-1, "protocol_error", "no launch frame was sent"))
        return
    if frame is None:
        return
    if frame[:1] != bytes([LAUNCH]):
        await _close(socket, exit_frame(-1, "protocol_error", "the first frame must be 0x00"))
        return
    try:
        argv, env, cwd = parse_launch(frame[1:], mountpoint)
    except Invalid as e:
        await _close(socket, exit_frame(-1, "invalid_launch", e.message))
        return
    started = time.monotonic()
    exit_code: int | None = -1
    reason, error = "exited", ""
    try:
        process = await anyio.to_thread.run_sync(runtime.exec, handle, argv, env, cwd)
        exit_code = await ExecSession(socket, process).run()
        reason = "exited" if exit_code is not None else "client_disconnected"
    except SandboxGone:
        reason, error = "sandbox_gone", "the sandbox's container no longer exists"
    except RuntimeUnavailable:
        reason, error = "engine_unavailable", "the container engine is not reachable"
    except Exception:
        log.exception("exec_failed", sandbox=handle.sandbox_id)
        reason, error = "exec_failed", "the command could not be run in the sandbox"
    finally:
        duration_ms = int((time.monotonic() - started) * 1000)
        await _record(container, handle.sandbox_id, principal, argv, cwd, exit_code, duration_ms)
    if exit_code is not None:
        await _close(socket, exit_frame(exit_code, reason, error))


async def _first_frame(socket: WebSocket[Any, Any, Any]) -> bytes | None:
    while True:
        message = await socket.receive()
        if message["type"] == "websocket.disconnect":
            return None
        if data := _binary(message):
            return data


def _binary(message: Mapping[str, Any]) -> bytes:
    """A received message's binary payload (text frames count as empty: they are ignored)."""
    data = message.get("bytes")
    return bytes(data) if isinstance(data, bytes | bytearray) else b""


async def _close(socket: WebSocket[Any, Any, Any], frame: bytes) -> None:
    try:
        await socket.send_bytes(frame)
        await socket.close()
    except Exception:  # the client is already gone
        log.debug("exec_close_failed", exc_info=True)


async def _record(
    container: Container,
    sandbox_id: str,
    principal: Principal,
    argv: Sequence[str],
    cwd: str,
    exit_code: int | None,
    duration_ms: int,
) -> None:
    """On the sandbox's record before the client sees the exit (never env values)."""
    code = -1 if exit_code is None else exit_code
    try:
        result = await anyio.to_thread.run_sync(
            lambda: sandboxes_of(container).record_exec(  # type: ignore[attr-defined]
                sandbox_id, principal, list(argv), cwd, code, duration_ms
            )
        )
        await anyio.to_thread.run_sync(container.wait_for, result.written)
    except Exception:
        log.exception("exec_record_failed", sandbox=sandbox_id, argv=list(argv)[:1])


class SandboxExecController(Controller):
    """`GET …/sandboxes/{sandbox_id}/exec` (WebSocket)."""

    path = (
        "/organizations/{organization:str}/repositories/{repository:str}/sandboxes/{sandbox_id:str}"
    )

    @websocket(
        "/exec",
        opt={"action": "ExecSandbox"},
        middleware=[refuse_before_accept],
        name="getSandboxExec",
    )
    async def exec(self, socket: WebSocket[Any, Any, Any]) -> None:
        container: Container = socket.app.state.container
        principal: Principal = socket.state.principal
        org_id = socket.state.org.org_id
        params: Mapping[str, Any] = socket.path_params
        handle, mountpoint, runtime = await anyio.to_thread.run_sync(
            exec_target, container, org_id, str(params["repository"]), str(params["sandbox_id"])
        )
        await socket.accept()
        await run_exec(socket, container, handle, mountpoint, runtime, principal)
