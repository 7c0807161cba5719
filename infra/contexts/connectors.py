"""The connectors context: connectors and their attachments, encrypted with the secrets
context's cipher, reading S3 and GCS through `CloudSources` behind the SSRF guard."""

from __future__ import annotations

from urllib.parse import urlsplit

from application.catalog import CatalogApplication
from application.connectors import ConnectorsApplication
from application.secrets.ports import CIPHER_SERVICE, SecretCipher
from domain.connectors.endpoints import parse_allowlist
from infra.connectors.guard import EndpointGuard, local_addresses
from infra.connectors.provider import CloudSources
from infra.contexts.base import ContextParts, Shared
from infra.settings import Settings
from projections.connectors.connectors import ConnectorsView


def endpoint_guard(settings: Settings) -> EndpointGuard:
    """The guard of `TILDE_CONNECTOR_ALLOWED_ENDPOINTS`; the server's own addresses are its
    interfaces' and those its public URLs' hosts resolve to."""
    own_hosts = [settings.host] + [
        urlsplit(url).hostname or ""
        for url in (settings.public_url, settings.blob_public_url)
        if url
    ]
    return EndpointGuard(
        parse_allowlist(settings.connector_allowed_endpoints),
        own_hosts=[h for h in own_hosts if h not in ("0.0.0.0", "::")],  # noqa: S104
        own_addresses=local_addresses(),
    )


def build(shared: Shared) -> ContextParts:
    catalog = shared.get("catalog", CatalogApplication)
    # The secrets context's envelope cipher (that context comes earlier in the registry).
    cipher: SecretCipher | None = shared.services.get(CIPHER_SERVICE)
    if cipher is None:
        raise LookupError("the connectors context needs the secrets context's cipher first")
    sources = CloudSources(
        timeout=shared.settings.connector_timeout_seconds,
        test_timeout=shared.settings.connector_test_timeout_seconds,
        guard=endpoint_guard(shared.settings),
    )
    connectors = ConnectorsApplication(
        shared.env("connectors"),
        factory=shared.factory,
        cipher=cipher,
        sources=sources,
        repository_ids=lambda org_id, name: str(
            catalog.get_repository(org_id, name, read_only=True).id
        ),
        clock=shared.clock,
        observers=[shared.saved],
    )
    return ContextParts(
        applications=[connectors],
        views=[ConnectorsView()],
        services={"connectors": connectors, "connector_sources": sources},
        closers=[sources.close],
    )
