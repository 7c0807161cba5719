"""A sandbox's logs: its output (`logs/stdout`, and the Go CLI's `combined`) and its egress
proxy's requests (`logs/network`, NDJSON), streamed live and closed when the sandbox ends,
readable afterwards from any API process until the logs expire (410)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, Protocol

import anyio.to_thread
from litestar import Controller, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath
from litestar.response import Stream

from domain.shared.errors import Gone, Unavailable
from infra.bootstrap import Container
from infra.sandboxes.logs import SqlLogStore
from interfaces.http.deps import ContainerDep, OrgDep
from interfaces.http.schemas.errors import errors

# Statuses after which no more output comes (the spec's terminal four).
TERMINAL = frozenset({"done", "errored", "failed", "cancelled"})
# A follower whose log got no append for this long asks whether the sandbox ended: the
# runner closes the log at the end, but a runner lost with its worker never does.
STATUS_CHECK_SECONDS = 2.0
MEDIA_TYPE = "text/plain; charset=utf-8"
NDJSON = "application/x-ndjson"


class SandboxRecord(Protocol):
    def record(self) -> dict[str, Any]: ...


class SandboxLookup(Protocol):
    """What logs and `/exec` read of the sandboxes service (registered as `sandboxes`)."""

    def in_repository(self, org_id: str, repo_name: str, sandbox_id: str) -> SandboxRecord: ...

    def sandbox(self, sandbox_id: str) -> SandboxRecord: ...


def sandboxes_of(container: Container) -> SandboxLookup:
    found = container.services.get("sandboxes")
    if found is None:
        raise Unavailable("sandboxes are not available on this server", code="NOT_CONFIGURED")
    return found  # type: ignore[no-any-return]


def log_store_of(container: Container, name: str = "sandbox_logs") -> SqlLogStore:
    found = container.services.get(name)
    if not isinstance(found, SqlLogStore):
        raise Unavailable("sandbox logs are not available on this server", code="NOT_CONFIGURED")
    return found


class LogFollower:
    """Reads a sandbox's log from `after`, following appends until the log is closed (or the
    sandbox ended without closing it). Database reads run in worker threads; waiting for
    appends is an awaitable, so an idle follower costs no thread."""

    def __init__(self, store: SqlLogStore, sandboxes: SandboxLookup, sandbox_id: str) -> None:
        self.store, self.sandboxes, self.sandbox_id = store, sandboxes, sandbox_id
        self.after = 0

    async def first(self) -> tuple[bytes, bool]:
        """The first piece: raises `Gone` before any byte is sent, so the answer is a 410."""
        return await anyio.to_thread.run_sync(self._read)

    def _read(self) -> tuple[bytes, bool]:
        chunks, closed = self.store.read(self.sandbox_id, self.after)
        if chunks:
            self.after = chunks[-1][0]
        return b"".join(data for _, data in chunks), closed

    def _ended(self) -> bool:
        return self.sandboxes.sandbox(self.sandbox_id).record()["status"] in TERMINAL

    async def follow(self, data: bytes, closed: bool) -> AsyncIterator[bytes]:
        if data:
            yield data
        checked = time.monotonic()
        ended = False
        while not closed:
            token = self.store.token(self.sandbox_id)
            try:
                data, closed = await anyio.to_thread.run_sync(self._read)
            except Gone:
                return  # expired while followed (retention shorter than the run)
            if data:
                yield data
                continue
            if closed or ended:
                return  # an ended sandbox's log is drained: nothing more will come
            woke = await self.store.wait_async(self.sandbox_id, token)
            if not woke and time.monotonic() - checked >= STATUS_CHECK_SECONDS:
                checked = time.monotonic()
                # One more read after seeing the end picks up the runner's last chunks.
                ended = await anyio.to_thread.run_sync(self._ended)


async def stream_logs(
    container: Container,
    org_id: str,
    repository: str,
    sandbox_id: str,
    store: str = "sandbox_logs",
    media_type: str = MEDIA_TYPE,
) -> Stream:
    sandboxes = sandboxes_of(container)
    await anyio.to_thread.run_sync(sandboxes.in_repository, org_id, repository, sandbox_id)
    follower = LogFollower(log_store_of(container, store), sandboxes, sandbox_id)
    data, closed = await follower.first()
    return Stream(
        follower.follow(data, closed),
        media_type=media_type,
        # Proxies must pass live output through as it comes.
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


STDOUT_RESPONSES = {
    200: ResponseSpec(
        data_container=str,
        media_type="text/plain",
        description="stdout and stderr merged in production order, raw bytes, chunked; "
        "streams while the sandbox runs and ends when it ends",
        generate_examples=False,
    ),
    **errors(410),
}


NETWORK_RESPONSES = {
    200: ResponseSpec(
        data_container=str,
        # The spec's type; the answer's Content-Type is application/x-ndjson (COMPAT §5.5).
        media_type="text/plain",
        description="NDJSON (Content-Type application/x-ndjson): one JSON object per outbound "
        "request of the sandbox (time, sandbox_id, method, url, decision, reason, status, "
        "bytes_in, bytes_out, duration_ms); streams while the sandbox runs and ends when it ends",
        generate_examples=False,
    ),
    **errors(410),
}


class SandboxLogsController(Controller):
    """`…/sandboxes/{sandbox_id}/logs/stdout`, the legacy `…/combined` alias and
    `…/logs/network`."""

    path = (
        "/organizations/{organization:str}/repositories/{repository:str}/sandboxes/{sandbox_id:str}"
    )
    tags = ["sandboxes"]

    @get(
        "/logs/stdout",
        opt={"action": "ReadSandboxLogs"},
        operation_id="getSandboxStdout",
        responses=STDOUT_RESPONSES,  # type: ignore[arg-type]
    )
    async def stdout(
        self,
        repository: FromPath[str],
        sandbox_id: FromPath[str],
        org: OrgDep,
        container: ContainerDep,
    ) -> Stream:
        return await stream_logs(container, org.org_id, repository, sandbox_id)

    @get(
        "/combined",
        opt={"action": "ReadSandboxLogs"},
        operation_id="getSandboxCombined",
        responses=STDOUT_RESPONSES,  # type: ignore[arg-type]
        include_in_schema=False,
    )
    async def combined(
        self,
        repository: FromPath[str],
        sandbox_id: FromPath[str],
        org: OrgDep,
        container: ContainerDep,
    ) -> Stream:
        """What the official Go CLI streams (`tilde exec`, `sandbox run`, `sandbox logs`)."""
        return await stream_logs(container, org.org_id, repository, sandbox_id)

    @get(
        "/logs/network",
        opt={"action": "ReadSandboxLogs"},
        operation_id="getSandboxNetwork",
        responses=NETWORK_RESPONSES,  # type: ignore[arg-type]
    )
    async def network(
        self,
        repository: FromPath[str],
        sandbox_id: FromPath[str],
        org: OrgDep,
        container: ContainerDep,
    ) -> Stream:
        """The egress proxy's log: one NDJSON line per request (no bodies, no header values)."""
        return await stream_logs(
            container, org.org_id, repository, sandbox_id, "sandbox_network_logs", NDJSON
        )
