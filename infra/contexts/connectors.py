"""The connectors context: connectors and their attachments, encrypted with the secrets
context's cipher, reading S3 and GCS through `CloudSources`."""

from __future__ import annotations

from application.catalog import CatalogApplication
from application.connectors import ConnectorsApplication
from application.secrets.ports import CIPHER_SERVICE, SecretCipher
from infra.connectors.provider import CloudSources
from infra.contexts.base import ContextParts, Shared
from projections.connectors.connectors import ConnectorsView


def build(shared: Shared) -> ContextParts:
    catalog = shared.get("catalog", CatalogApplication)
    # The secrets context's envelope cipher (that context comes earlier in the registry).
    cipher: SecretCipher | None = shared.services.get(CIPHER_SERVICE)
    if cipher is None:
        raise LookupError("the connectors context needs the secrets context's cipher first")
    sources = CloudSources(
        timeout=shared.settings.connector_timeout_seconds,
        test_timeout=shared.settings.connector_test_timeout_seconds,
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
