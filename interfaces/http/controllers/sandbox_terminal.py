"""`/terminal`: the pty of an interactive sandbox over a WebSocket (COMPAT §5.6).

Frames are binary, first byte = type: client `0x00` stdin bytes, `0x02` resize JSON
`{"cols","rows"}`; server `0x01` output (stdout and stderr, merged by the TTY), `0x03` exit
JSON `{"exited": true, "exit_code": N}` when the pty's process ends, and then the server
closes. Text, empty and unknown frames are ignored. On connecting the client first gets the
tail of the output so far (the prompt it would otherwise not see).

One client at a time, across API processes: the connection holds a lease in the database
(renewed while attached, dropped on disconnect, lapsing if its API process dies); a second
client gets 409. A client that leaves only detaches: the shell keeps running until it exits
or the sandbox's timeout, and a client may attach again meanwhile.

Refusals happen before the upgrade, as HTTP answers with the spec's error body: 401/403 from
the guard, 404 unknown sandbox, 400 not interactive, 410 finished, 409 not attachable (not
running yet, another client attached, the shell's container gone), 503 engine unreachable.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Mapping
from contextlib import suppress
from typing import Any

import anyio.to_thread
import structlog
from litestar import Controller, WebSocket, websocket

from application.principal import Principal
from application.sandboxes.ports import (
    ContainerRuntime,
    Handle,
    RuntimeUnavailable,
    SandboxGone,
    TerminalLeases,
    TerminalProcess,
)
from domain.shared.errors import Conflict, Gone, Invalid, Unavailable
from infra.bootstrap import Container
from interfaces.http.controllers.sandbox_exec import runtime_for
from interfaces.http.controllers.sandbox_logs import TERMINAL, log_store_of, sandboxes_of
from interfaces.http.websockets import refuse_before_accept

log = structlog.get_logger("tilde.sandbox_terminal")

STDIN, OUTPUT, RESIZE, EXIT = range(4)
# A lease outlives its last renewal by this long (renewed every third of it).
LEASE_SECONDS = 15.0
# Output already produced that a connecting client is shown first (a screenful).
REPLAY_BYTES = 4096
OUTPUT_QUEUE = 64
# After the output ends, how long to wait for the runner to record the exit when the engine
# no longer knows it (the container was removed first).
EXIT_RECORD_SECONDS = 10.0


def terminal_target(
    container: Container, org_id: str, repository: str, sandbox_id: str
) -> tuple[Handle, ContainerRuntime]:
    record = sandboxes_of(container).in_repository(org_id, repository, sandbox_id).record()
    if record.get("mode") != "interactive":
        raise Invalid(
            f"the sandbox is not interactive (mode {record.get('mode')!r}); "
            'create it with mode "interactive", or run commands through /exec'
        )
    if record["status"] in TERMINAL:
        raise Gone(f"the sandbox has already finished ({record['status']})")
    if record["status"] != "running" or not record.get("container_id"):
        raise Conflict("the sandbox's terminal is not available yet; retry when it is running")
    handle = Handle(
        sandbox_id=str(record["id"]),
        engine=record["engine"],
        container_id=record["container_id"],
        volume_name=record.get("volume_name", ""),
        network_name=record.get("network_name", ""),
    )
    return handle, runtime_for(container, record["engine"])


def leases_of(container: Container) -> TerminalLeases:
    found = container.services.get("sandbox_terminal_leases")
    if found is None:
        raise Unavailable("terminals are not available on this server", code="NOT_CONFIGURED")
    return found  # type: ignore[no-any-return]


def parse_resize(payload: bytes) -> tuple[int, int] | None:
    """(cols, rows) of a resize frame; None when malformed (the frame is ignored)."""
    try:
        size = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(size, dict):
        return None
    cols, rows = size.get("cols"), size.get("rows")
    if not all(type(v) is int and 0 < v <= 10_000 for v in (cols, rows)):
        return None
    return cols, rows  # type: ignore[return-value]


def exit_frame(exit_code: int) -> bytes:
    return bytes([EXIT]) + json.dumps({"exited": True, "exit_code": exit_code}).encode()


def replay(container: Container, sandbox_id: str) -> bytes:
    """The last `REPLAY_BYTES` of the sandbox's output, from a line start when there is one."""
    store = log_store_of(container)
    last, _ = store.extent(sandbox_id)
    chunks, _ = store.read(sandbox_id, max(0, last - 8))
    tail = b"".join(data for _, data in chunks)[-REPLAY_BYTES:]
    if len(tail) == REPLAY_BYTES and (cut := tail.find(b"\n")) >= 0:
        tail = tail[cut + 1 :]
    return tail


class TerminalSession:
    """Bridges one WebSocket and the pty: output pumped by a thread, input by the socket."""

    def __init__(
        self,
        socket: WebSocket[Any, Any, Any],
        process: TerminalProcess,
        renew: Any,
    ) -> None:
        self.socket = socket
        self.process = process
        self.renew = renew
        self.loop = asyncio.get_running_loop()
        self.output: asyncio.Queue[bytes | None] = asyncio.Queue(OUTPUT_QUEUE)
        self.finished = threading.Event()

    def _put(self, item: bytes | None) -> bool:
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
        try:
            while data := self.process.read():
                if not self._put(data):
                    return
        except Exception:
            log.warning("terminal_output_failed", exc_info=True)
        with suppress(RuntimeError):  # the event loop is gone
            self._put(None)

    async def _send_output(self) -> None:
        while (data := await self.output.get()) is not None:
            await self.socket.send_bytes(bytes([OUTPUT]) + data)

    async def _feed_input(self) -> None:
        while True:
            message = await self.socket.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            if not isinstance(data, bytes | bytearray) or not data:
                continue
            kind, payload = data[0], bytes(data[1:])
            try:
                if kind == STDIN and payload:
                    await anyio.to_thread.run_sync(self.process.write, payload)
                elif kind == RESIZE and (size := parse_resize(payload)) is not None:
                    await anyio.to_thread.run_sync(self.process.resize, *size)
            except (OSError, SandboxGone):  # the shell ended: its output ends too
                pass

    async def _keep_lease(self) -> None:
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            if not await anyio.to_thread.run_sync(self.renew):
                log.warning("terminal_lease_lost")
                return

    async def run(self, first: bytes) -> bool:
        """True when the pty's output ended (its process exited); False when the client left
        or the lease was lost (the process keeps running)."""
        if first:
            await self.socket.send_bytes(bytes([OUTPUT]) + first)
        threading.Thread(target=self._pump, name="sandbox-terminal", daemon=True).start()
        sender = asyncio.create_task(self._send_output())
        tasks = {sender, asyncio.create_task(self._feed_input())}
        tasks.add(asyncio.create_task(self._keep_lease()))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            return sender in done and sender.exception() is None
        finally:
            self.finished.set()
            for task in tasks:
                task.cancel()


async def exit_code_of(
    container: Container, process: TerminalProcess, sandbox_id: str
) -> int | None:
    """The pty's process's exit code: the engine's, else (its container already removed) the
    one the runner recorded; None when it still runs (the engine ended the attachment)."""
    try:
        return await anyio.to_thread.run_sync(process.exit_code)
    except (SandboxGone, RuntimeUnavailable):
        pass
    sandboxes = sandboxes_of(container)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + EXIT_RECORD_SECONDS
    while loop.time() < deadline:
        record = await anyio.to_thread.run_sync(lambda: sandboxes.sandbox(sandbox_id).record())
        if record["status"] in TERMINAL:  # killed (timeout, cancel): no exit code recorded
            code = record.get("exit_code")
            return int(code) if code is not None else -1
        await asyncio.sleep(0.1)
    return -1


async def record_terminal(
    container: Container, sandbox_id: str, principal: Principal, **change: Any
) -> None:
    """An attachment or a detachment on the sandbox's record (the audit log), written."""
    try:
        result = await anyio.to_thread.run_sync(
            lambda: sandboxes_of(container).record_terminal(  # type: ignore[attr-defined]
                sandbox_id, principal, **change
            )
        )
        await anyio.to_thread.run_sync(container.wait_for, result.written)
    except Exception:
        log.exception("terminal_record_failed", sandbox=sandbox_id, **change)
        raise


class SandboxTerminalController(Controller):
    """`GET …/sandboxes/{sandbox_id}/terminal` (WebSocket)."""

    path = (
        "/organizations/{organization:str}/repositories/{repository:str}/sandboxes/{sandbox_id:str}"
    )

    @websocket(
        "/terminal",
        opt={"action": "ExecSandbox"},
        middleware=[refuse_before_accept],
        name="getSandboxTerminal",
    )
    async def terminal(self, socket: WebSocket[Any, Any, Any]) -> None:
        container: Container = socket.app.state.container
        principal: Principal = socket.state.principal
        params: Mapping[str, Any] = socket.path_params
        handle, runtime = await anyio.to_thread.run_sync(
            terminal_target,
            container,
            socket.state.org.org_id,
            str(params["repository"]),
            str(params["sandbox_id"]),
        )
        sid, holder = handle.sandbox_id, uuid.uuid4().hex
        leases = leases_of(container)
        if not await anyio.to_thread.run_sync(leases.acquire, sid, holder, LEASE_SECONDS):
            raise Conflict("another client is attached to this sandbox's terminal")
        try:
            try:
                process = await anyio.to_thread.run_sync(runtime.terminal, handle)
            except SandboxGone as e:
                raise Conflict("the sandbox's terminal cannot be re-established") from e
            except RuntimeUnavailable as e:
                raise Unavailable("the sandbox's engine is not reachable", retry_after=1) from e
            try:
                # On the record before the client is in (who attached is never lost).
                await record_terminal(container, sid, principal, attached=True)
                attached = time.monotonic()
                first = await anyio.to_thread.run_sync(replay, container, sid)
                await socket.accept()
                session = TerminalSession(
                    socket, process, lambda: leases.renew(sid, holder, LEASE_SECONDS)
                )
                exited = await session.run(first)
            finally:
                await anyio.to_thread.run_sync(process.close)
            code = await exit_code_of(container, process, sid) if exited else None
            with suppress(Exception):
                await record_terminal(
                    container,
                    sid,
                    principal,
                    attached=False,
                    duration_ms=int((time.monotonic() - attached) * 1000),
                    exited=exited,
                )
            if code is not None:
                with suppress(Exception):  # the client is already gone
                    await socket.send_bytes(exit_frame(code))
            with suppress(Exception):
                await socket.close()
        finally:
            await anyio.to_thread.run_sync(leases.release, sid, holder)
