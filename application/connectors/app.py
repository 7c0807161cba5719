"""Connector commands (create, delete, attach, detach), connection tests, and the source an
import reads through."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from uuid import uuid4

from application.base import Result, TildeApplication
from application.connectors.ports import ObjectSource, SourceProvider
from application.principal import Principal
from application.secrets.ports import SecretCipher
from domain.connectors.connector import Connector
from domain.connectors.sources import (
    SourceLocation,
    check_config,
    check_type,
    parse_source_uri,
)
from domain.organizations.rules import check_label
from domain.shared.errors import Conflict, Gone, Invalid, NotFound
from domain.shared.ids import index_id, parse_uuid
from domain.shared.index import IndexEntry

# (org id, repository name) -> the live repository's id, or NotFound (the catalog answers).
RepositoryIds = Callable[[str, str], str]


def associated_data(org_id: str, connector_id: str) -> bytes:
    """What a config's ciphertext is bound to: it decrypts for this connector only."""
    return f"connector:{org_id}:{connector_id}".encode()


class ConnectorsApplication(TildeApplication):
    """Connectors of organizations and their attachments to repositories."""

    name = "connectors"
    snapshotting_intervals = {Connector: 100}

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        cipher: SecretCipher,
        sources: SourceProvider,
        repository_ids: RepositoryIds,
        **kwargs: Any,
    ) -> None:
        super().__init__(env, **kwargs)
        self.cipher = cipher
        self.sources = sources
        self.repository_ids = repository_ids

    # -- commands -------------------------------------------------------------------------
    def create_connector(
        self,
        org_id: str,
        *,
        name: object,
        type: object,
        source_uri: object,
        config: object,
        principal: Principal,
    ) -> Result[Connector]:
        label = check_label(name, "connector")
        location, settings = self._checked(type, source_uri, config)
        self.sources.check(location, settings)
        connector_id = uuid4()
        token = self.cipher.encrypt(
            org_id,
            json.dumps(settings, sort_keys=True).encode(),
            associated_data(org_id, str(connector_id)),
        )
        connector = Connector.create(
            connector_id=connector_id,
            organization_id=org_id,
            name=label,
            location=location,
            config_token=token,
            actor=principal.actor,
        )

        def command() -> Result[Connector]:
            # A lost race for the name is an IntegrityError; the retry then answers 409.
            index = self._claim(org_id, label, str(connector_id))
            return Result(connector, (self.record(connector, index),))

        return self.retrying(command)

    def delete_connector(
        self, org_id: str, connector_id: str, principal: Principal
    ) -> Result[None]:
        def command() -> Result[None]:
            connector = self.connector(org_id, connector_id)
            connector.delete(principal.actor)
            released = self._release(org_id, connector.name, str(connector.id))
            return Result(None, (self.record(connector, *released),))

        return self.retrying(command)

    def attach_connector(
        self, org_id: str, repository: str, connector_id: object, principal: Principal
    ) -> Result[None]:
        if not isinstance(connector_id, str) or parse_uuid(connector_id) is None:
            raise Invalid("connector_id must be a connector's id (a UUID)")
        repository_id = self.repository_ids(org_id, repository)

        def command() -> Result[None]:
            connector = self.connector(org_id, connector_id)
            connector.attach(repository_id, principal.actor)
            return Result(None, (self.record(connector),))

        return self.retrying(command)

    def detach_connector(
        self, org_id: str, repository: str, connector_id: str, principal: Principal
    ) -> Result[None]:
        repository_id = self.repository_ids(org_id, repository)

        def command() -> Result[None]:
            connector = self._in_org(org_id, connector_id)
            if connector is None:
                raise NotFound("connector not found")
            connector.detach(repository_id, principal.actor)
            return Result(None, (self.record(connector),))

        return self.retrying(command)

    # -- connection tests -----------------------------------------------------------------
    def test_config(self, *, type: object, source_uri: object, config: object) -> None:
        """List the unsaved source once; `SourceFailed` (502) with the provider's error."""
        location, settings = self._checked(type, source_uri, config)
        self.sources.check(location, settings)
        self.sources.probe(location, settings)

    def test_connector(self, org_id: str, connector_id: str) -> None:
        connector = self.connector(org_id, connector_id)
        self.sources.probe(self.location(connector), self.config(connector))

    # -- what imports use -----------------------------------------------------------------
    def source_for(
        self, org_id: str, connector_id: str, repository_id: str
    ) -> tuple[ObjectSource, str]:
        """The source of a live connector attached to the repository, and its base prefix.
        NotFound when unknown, Gone when deleted, Invalid when not attached."""
        connector = self._in_org(org_id, connector_id)
        if connector is None:
            raise NotFound(f"connector {connector_id} not found")
        if connector.deleted:
            raise Gone(f"connector '{connector.name}' was deleted; it imports no more")
        if not connector.is_attached(repository_id):
            raise Invalid(
                f"connector '{connector.name}' is not attached to this repository; attach it "
                "first (POST …/repositories/{repository}/connectors)"
            )
        location = self.location(connector)
        return self.sources.source(location, self.config(connector)), location.prefix

    # -- lookups --------------------------------------------------------------------------
    def connector(self, org_id: str, connector_id: str) -> Connector:
        """A live connector of the organization (NotFound otherwise)."""
        connector = self._in_org(org_id, connector_id)
        if connector is None or connector.deleted:
            raise NotFound("connector not found")
        return connector

    def location(self, connector: Connector) -> SourceLocation:
        return parse_source_uri(connector.kind, connector.source_uri)

    def config(self, connector: Connector) -> dict[str, Any]:
        """The decrypted config (kept in memory only for the call that needs it)."""
        org_id = connector.organization_id
        plain = self.cipher.decrypt(
            org_id, connector.config_token, associated_data(org_id, str(connector.id))
        )
        value = json.loads(plain)
        assert isinstance(value, dict)
        return value

    def _in_org(self, org_id: str, connector_id: str) -> Connector | None:
        as_id = parse_uuid(connector_id)
        connector = self.find(as_id, Connector) if as_id is not None else None
        if connector is None or connector.organization_id != org_id:
            return None
        return connector

    @staticmethod
    def _checked(type: object, source_uri: object, config: object) -> tuple[SourceLocation, Any]:
        kind = check_type(type)
        return parse_source_uri(kind, source_uri), check_config(kind, config)

    def _claim(self, org_id: str, name: str, owner_id: str) -> IndexEntry:
        kind = f"connector-name:{org_id}"
        entry = self.find(index_id(kind, name), IndexEntry)
        if entry is None:
            return IndexEntry.claim(kind, name, owner_id)
        if not entry.is_free:
            raise Conflict(f"connector '{name}' already exists")
        entry.reclaim(owner_id)
        return entry

    def _release(self, org_id: str, name: str, owner_id: str) -> list[IndexEntry]:
        entry = self.find(index_id(f"connector-name:{org_id}", name), IndexEntry)
        if entry is None or entry.is_free or entry.owner_id != owner_id:
            return []
        entry.release()
        return [entry]


__all__ = ["ConnectorsApplication", "RepositoryIds", "associated_data"]
