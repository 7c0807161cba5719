"""The Repository aggregate: settings, soft deletion, and the head of its linear history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from domain.catalog.commits import Change, Committer, NewCommit, changes_digest, commit_id
from domain.shared.errors import Conflict, Invalid, NotFound
from domain.shared.scoped import OrgAggregate, OrgCreated, OrgEvent, start_state
from domain.shared.values import Actor, parse_iso, stamp

DEFAULT_RETENTION_DAYS = 14
SETTINGS = (
    "description",
    "visibility",
    "retention_days",
    "session_max_duration_days",
    "agents_require_approval",
)


def check_settings(values: dict[str, Any]) -> dict[str, Any]:
    """Validated repository settings; unknown fields are kept as given (older clients)."""
    out = dict(values)
    if "description" in out and not isinstance(out["description"], str | type(None)):
        raise Invalid("description must be a string")
    if out.get("description") is None and "description" in out:
        out["description"] = ""
    for field in ("retention_days", "session_max_duration_days"):
        if field in out and out[field] is not None:
            value = out[field]
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 36500:
                raise Invalid(f"{field} must be an integer between 1 and 36500")
        elif field in out:
            del out[field]
    if "agents_require_approval" in out and not isinstance(out["agents_require_approval"], bool):
        raise Invalid("agents_require_approval must be a boolean")
    if "visibility" in out and not isinstance(out["visibility"], str):
        raise Invalid("visibility must be a string")
    return out


class Repository(OrgAggregate):
    """A named, versioned tree of objects with one linear history of commits."""

    class Created(OrgCreated):
        """A repository was created."""

        name: str
        settings: dict[str, Any]

        def apply(self, repo: Repository) -> None:
            start_state(repo, self)
            repo.name = self.name
            repo.settings = {
                "description": "",
                "visibility": "private",
                "retention_days": DEFAULT_RETENTION_DAYS,
                "session_max_duration_days": 7,
                "agents_require_approval": False,
                **self.settings,
            }
            repo.head_seq = 0
            repo.head_commit_id = ""
            repo.retained_from = 0
            repo.purged = False

    class Updated(OrgEvent):
        """Settings changed (only the fields given)."""

        settings: dict[str, Any]

        def apply(self, repo: Repository) -> None:
            repo.settings = {**repo.settings, **self.settings}

    class CommitAdded(OrgEvent):
        """A commit landed on the head: the staged changes of `session_id` became visible."""

        seq: int
        commit_id: str
        parents: list[str]
        session_id: str
        message: str
        metadata: dict[str, str]
        committer: str
        kind: str
        changes: int

        def apply(self, repo: Repository) -> None:
            repo.head_seq = self.seq
            repo.head_commit_id = self.commit_id

    class RetentionApplied(OrgEvent):
        """Entry versions no retained commit can see (valid_to <= up_to_seq) were expired."""

        up_to_seq: int

        def apply(self, repo: Repository) -> None:
            repo.retained_from = self.up_to_seq

    class Deleted(OrgEvent):
        """The repository was deleted (soft: restorable until garbage collection purges it)."""

        def apply(self, repo: Repository) -> None:
            repo.deleted = True
            repo.deleted_on = self.timestamp

    class Restored(OrgEvent):
        """The operator restored a deleted repository: its objects and history are back."""

        def apply(self, repo: Repository) -> None:
            repo.deleted = False
            repo.deleted_on = None

    class Purged(OrgEvent):
        """Garbage collection dropped a deleted repository's catalog rows."""

        def apply(self, repo: Repository) -> None:
            repo.purged = True

    if TYPE_CHECKING:  # state set by the events; not dataclass fields
        name: str
        settings: dict[str, Any]
        head_seq: int
        head_commit_id: str
        retained_from: int
        purged: bool
        deleted_on: datetime | None

    @classmethod
    def create(
        cls,
        *,
        repository_id: Any,
        organization_id: str,
        name: str,
        settings: dict[str, Any],
        actor: Actor,
    ) -> Repository:
        repo: Repository = cls._start(
            cls.Created,
            id=repository_id,
            organization_id=organization_id,
            actor=actor,
            name=name,
            settings=check_settings(settings),
        )
        return repo

    def require_live(self) -> None:
        if self.deleted:
            raise NotFound(f"repository '{self.name}' not found")

    def update(self, settings: dict[str, Any], actor: Actor) -> None:
        self.require_live()
        changes = {k: v for k, v in check_settings(settings).items() if self.settings.get(k) != v}
        if changes:
            self._act(self.Updated, actor, settings=changes)

    # -- rules ----------------------------------------------------------------------------
    @property
    def retention_days(self) -> int:
        return int(self.settings.get("retention_days") or DEFAULT_RETENTION_DAYS)

    def retention_start(self, now: datetime) -> datetime:
        """Commits made before this instant are beyond retention (their trees may be gone)."""
        return now - timedelta(days=self.retention_days)

    def is_stale(self, creation_date: str, now: datetime) -> bool:
        """Whether a commit made at `creation_date` (ISO) is beyond the retention period."""
        created = parse_iso(creation_date)
        return created is not None and created < self.retention_start(now)

    def requires_approval(self, committer: Actor) -> bool:
        """Whether `committer`'s commits wait for a human: agents' do if the setting says so."""
        return committer.type == "agent" and bool(self.settings.get("agents_require_approval"))

    # -- commands -------------------------------------------------------------------------
    def add_commit(
        self,
        *,
        session_id: str,
        changes: Sequence[Change],
        message: str,
        metadata: dict[str, str],
        committer: Committer,
        kind: str,
        timestamp: datetime,
    ) -> NewCommit:
        """Put `changes` on the head as the next commit: sequence head + 1, the head as its
        parent, an id hashing all of it."""
        self.require_live()
        if not changes:
            raise Invalid("nothing to commit: the session has no staged changes")
        seq = self.head_seq + 1
        parents = [self.head_commit_id] if self.head_commit_id else []
        new_id = commit_id(
            repository_id=str(self.id),
            seq=seq,
            parents=parents,
            message=message,
            metadata=metadata,
            committer_type=committer.actor.type,
            committer_id=committer.actor.id,
            created_at=stamp(timestamp),
            digest=changes_digest((c["path"], c["op"], c["address"], c["etag"]) for c in changes),
        )
        self.trigger_event(
            self.CommitAdded,
            organization_id=self.organization_id,
            actor_type=committer.actor.type,
            actor_id=committer.actor.id,
            seq=seq,
            commit_id=new_id,
            parents=parents,
            session_id=session_id,
            message=message,
            metadata=metadata,
            committer=committer.name,
            kind=kind,
            changes=len(changes),
            timestamp=timestamp,
        )
        return NewCommit(new_id, seq)

    def apply_retention(self, up_to_seq: int, actor: Actor) -> None:
        if up_to_seq > self.retained_from:
            self._act(self.RetentionApplied, actor, up_to_seq=up_to_seq)

    @property
    def deleted_at(self) -> datetime:
        """When it was deleted (repositories deleted before deletion times were recorded:
        their last change, which was the deletion)."""
        return getattr(self, "deleted_on", None) or self.modified_on

    def purge_after(self, retention: timedelta) -> datetime:
        return self.deleted_at + retention

    def delete(self, actor: Actor, *, at: datetime | None = None) -> None:
        """Soft delete at `at` (the application's clock), which starts the restore window."""
        if not self.deleted:
            self._act(self.Deleted, actor, timestamp=at)  # None: now

    def restore(self, actor: Actor) -> None:
        if self.purged:
            raise NotFound(f"repository '{self.name}' was purged and cannot be restored")
        if not self.deleted:
            raise Conflict(f"repository '{self.name}' is not deleted")
        self._act(self.Restored, actor)

    def purge(self, actor: Actor) -> None:
        if self.deleted and not self.purged:
            self._act(self.Purged, actor)
