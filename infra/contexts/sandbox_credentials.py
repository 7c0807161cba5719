"""In-sandbox credentials: in a process that runs sandboxes, the network service serving each
one `GET /v1/credentials` and the API relay on its gateway (`TILDE_SANDBOX_CREDENTIALS_URI`,
`TILDE_API_URL`)."""

from __future__ import annotations

from datetime import timedelta

from application.identity import IdentityApplication
from application.sandboxes.app import SandboxesApplication
from application.sandboxes.network_services import NETWORK_SERVICES
from infra.contexts.base import ContextParts, Shared
from infra.docker.network import allow_sandbox_port
from infra.docker.runtime import DockerRuntime
from infra.sandboxes.credentials import SandboxCredentials
from infra.sandboxes.gateway import Relay, Upstream
from infra.settings import Settings


def relay_for(settings: Settings) -> Relay:
    """`/api/` to the API, `/_blob/` to the local blob store's origin (the same server)."""
    api = (settings.sandbox_api_upstream or settings.base_url).rstrip("/")
    blobs = api if not settings.blob_public_url else settings.blob_base_url
    return Relay(
        [
            Upstream("/api/", api, settings.base_url),
            Upstream("/_blob/", blobs, settings.blob_base_url),
        ]
    )


def build(shared: Shared) -> ContextParts:
    # Served on gateways of this host's Docker networks: only a process that runs sandboxes
    # on a Docker engine has them (not an API-only process, not the tests' fake engine).
    runtime = shared.services.get("sandbox_runtime")
    if "sandbox_worker" not in shared.services or not isinstance(runtime, DockerRuntime):
        return ContextParts()
    settings = shared.settings
    service = SandboxCredentials(
        shared.get("identity", IdentityApplication),
        shared.get("sandboxes", SandboxesApplication),
        relay_for(settings),
        port=settings.sandbox_credentials_port,
        ttl=timedelta(seconds=settings.sandbox_token_ttl_seconds),
        open_port=allow_sandbox_port,
        clock=shared.clock,
    )
    # A list other network services (the egress proxy) append to as well.
    shared.services.setdefault(NETWORK_SERVICES, []).append(service)
    return ContextParts(services={"sandbox_credentials": service}, closers=[service.shutdown])
