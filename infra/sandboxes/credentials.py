"""SandboxCredentials: the network service that gives every sandbox `TILDE_API_URL` and
`TILDE_SANDBOX_CREDENTIALS_URI`, both on its own gateway (see `gateway.py`), and revokes the
sandbox's tokens the moment it ends."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from application.identity import IdentityApplication, IssuedToken
from application.sandboxes.app import SandboxesApplication
from application.sandboxes.ports import SandboxNetwork
from domain.shared.values import utcnow
from infra.sandboxes.gateway import CREDENTIALS_PATH, GatewayServer, Relay

log = structlog.get_logger("tilde.sandboxes")


@dataclass
class _Held:
    """The token last handed to a sandbox (in this worker's memory only, never stored)."""

    issued: IssuedToken
    at: datetime
    organization_id: str


class SandboxCredentials:
    """`NetworkService`: one gateway server per sandbox this worker runs."""

    def __init__(
        self,
        identity: IdentityApplication,
        sandboxes: SandboxesApplication,
        relay: Relay,
        *,
        port: int,
        ttl: timedelta,
        open_port: Callable[[int], None],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.identity = identity
        self.sandboxes = sandboxes
        self.relay = relay
        self.port = port
        self.ttl = ttl
        self.open_port = open_port
        self.clock = clock
        self._servers: dict[str, GatewayServer] = {}
        self._held: dict[str, _Held] = {}
        # Also held while issuing, so a token is never issued after `close` revoked them.
        self._lock = threading.RLock()
        self._port_open = False

    def origin(self, network: SandboxNetwork) -> str:
        return f"http://{network.gateway}:{self.port}"

    def environment(self, sandbox_id: str, network: SandboxNetwork) -> Mapping[str, str]:
        origin = self.origin(network)
        return {
            # An origin: the SDK appends /api/v1 itself (COMPAT §10.19).
            "TILDE_API_URL": origin,
            "TILDE_SANDBOX_CREDENTIALS_URI": origin + CREDENTIALS_PATH,
        }

    def open(self, sandbox_id: str, network: SandboxNetwork) -> None:
        with self._lock:
            if sandbox_id in self._servers:
                return
            if not self._port_open:
                self.open_port(self.port)
                self._port_open = True
            server = GatewayServer(
                sandbox_id, network.subnet, network.gateway, self.port, self.credentials, self.relay
            )
            self._servers[sandbox_id] = server
        server.start()

    def serving(self, sandbox_id: str) -> bool:
        with self._lock:
            return sandbox_id in self._servers

    def forget(self, sandbox_id: str) -> None:
        """Drop the held token: the next fetch issues a new one (benchmarks)."""
        with self._lock:
            self._held.pop(sandbox_id, None)

    def close(self, sandbox_id: str) -> None:
        """Stop serving the sandbox and revoke every token it was given (idempotent)."""
        with self._lock:
            server = self._servers.pop(sandbox_id, None)
            self._held.pop(sandbox_id, None)
        if server is not None:
            server.stop()
        self.identity.revoke_sandbox_tokens(sandbox_id)

    def shutdown(self) -> None:
        """This process stops: stop listening, revoke nothing (a worker that claims the
        sandboxes next re-attaches and serves them again)."""
        with self._lock:
            servers = list(self._servers.values())
            self._servers.clear()
            self._held.clear()
        for server in servers:
            server.stop()

    def credentials(self, sandbox_id: str) -> tuple[int, Mapping[str, Any]]:
        """The body of `GET /v1/credentials`: the token held for the sandbox while more than
        half its life is left, else a new one (so a refetch near expiry renews it)."""
        now = self.clock()
        with self._lock:
            server = self._servers.get(sandbox_id)
            if server is None:
                return 410, {"message": "the sandbox has ended", "code": "GONE", "request_id": ""}
            held = self._held.get(sandbox_id)
            if held is None or _past_half_life(held, now):
                sandbox = self.sandboxes.sandbox(sandbox_id)
                issued = self.identity.issue_sandbox_token(
                    sandbox_id=sandbox_id,
                    organization_id=sandbox.organization_id,
                    principal_type=sandbox.principal["type"],
                    principal_id=sandbox.principal["id"],
                    ttl=self.ttl,
                ).value
                held = self._held[sandbox_id] = _Held(issued, now, sandbox.organization_id)
        principal = held.issued.principal
        return 200, {
            "access_token": held.issued.access_token,
            "expires_at": held.issued.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "principal_type": principal.type,
            "principal_id": principal.id,
            "principal_name": principal.name,
            "organization_id": held.organization_id,
            "api_url": server.origin,
        }


def _past_half_life(held: _Held, now: datetime) -> bool:
    return held.issued.expires_at - now < (held.issued.expires_at - held.at) / 2
