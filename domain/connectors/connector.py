"""The Connector aggregate: an organization's external source, its encrypted config and the
repositories it is attached to."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from domain.connectors.sources import SourceLocation
from domain.shared.errors import Conflict, Invalid, NotFound
from domain.shared.scoped import OrgAggregate, OrgCreated, OrgEvent, start_state
from domain.shared.values import Actor


class Connector(OrgAggregate):
    """A named source (`s3://…`, `gs://…`) whose credentials are stored only as ciphertext."""

    class Created(OrgCreated):
        """A connector was created; `config_token` is the config's ciphertext, never the
        config itself."""

        name: str
        type: str
        source_uri: str
        config_token: str

        def apply(self, connector: Connector) -> None:
            start_state(connector, self)
            connector.name = self.name
            connector.kind = self.type
            connector.source_uri = self.source_uri
            connector.config_token = self.config_token
            connector.repositories = ()

    class Deleted(OrgEvent):
        """The connector was deleted (soft: what it imported stays; it imports no more)."""

        def apply(self, connector: Connector) -> None:
            connector.deleted = True

    class Attached(OrgEvent):
        """The connector may now import into a repository."""

        repository_id: str

        def apply(self, connector: Connector) -> None:
            connector.repositories = (*connector.repositories, self.repository_id)

    class Detached(OrgEvent):
        """The connector no longer imports into a repository."""

        repository_id: str

        def apply(self, connector: Connector) -> None:
            connector.repositories = tuple(
                r for r in connector.repositories if r != self.repository_id
            )

    if TYPE_CHECKING:  # state set by the events; not dataclass fields
        name: str
        kind: str
        source_uri: str
        config_token: str
        repositories: tuple[str, ...]

    @classmethod
    def create(
        cls,
        *,
        connector_id: Any,
        organization_id: str,
        name: str,
        location: SourceLocation,
        config_token: str,
        actor: Actor,
    ) -> Connector:
        if not config_token:
            raise Invalid("a connector's config must be stored encrypted")
        connector: Connector = cls._start(
            cls.Created,
            id=connector_id,
            organization_id=organization_id,
            actor=actor,
            name=name,
            type=location.type,
            source_uri=location.uri,
            config_token=config_token,
        )
        return connector

    def is_attached(self, repository_id: str) -> bool:
        return repository_id in self.repositories

    def attach(self, repository_id: str, actor: Actor) -> None:
        self._require_live()
        if self.is_attached(repository_id):
            raise Conflict(f"connector '{self.name}' is already attached to this repository")
        self._act(self.Attached, actor, repository_id=repository_id)

    def detach(self, repository_id: str, actor: Actor) -> None:
        if not self.is_attached(repository_id):
            raise NotFound(f"connector '{self.name}' is not attached to this repository")
        self._act(self.Detached, actor, repository_id=repository_id)

    def delete(self, actor: Actor) -> None:
        if not self.deleted:
            self._act(self.Deleted, actor)

    def _require_live(self) -> None:
        if self.deleted:
            raise NotFound("connector not found")
