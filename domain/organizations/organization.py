"""The Organization aggregate: its name and who its members are."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from domain.shared.errors import Conflict, Invalid, NotFound
from domain.shared.scoped import OrgAggregate, OrgCreated, OrgEvent, start_state
from domain.shared.values import Actor, stamp

# What a sandbox may reach when no network statement of its principal applies.
EGRESS_DEFAULTS = ("allow", "deny")


class Organization(OrgAggregate):
    """A tenant: owns repositories, groups, policies, roles and agents."""

    class Created(OrgCreated):
        """The organization was created; its creator is its first member (and owner)."""

        name: str
        display_name: str

        def apply(self, org: Organization) -> None:
            start_state(org, self)
            org.name = self.name
            org.display_name = self.display_name
            org.members = {}
            org.purged = False

    class MemberAdded(OrgEvent):
        """A user joined (as creator, through an invitation, or added directly)."""

        user_id: str
        via: str

        def apply(self, org: Organization) -> None:
            org.members = {**org.members, self.user_id: stamp(self.timestamp)}

    class MemberRemoved(OrgEvent):
        """A user left or was removed."""

        user_id: str

        def apply(self, org: Organization) -> None:
            org.members = {k: v for k, v in org.members.items() if k != self.user_id}

    class EgressDefaultSet(OrgEvent):
        """Whether sandboxes may reach public destinations no network statement names
        ("allow", the default) or only what network policies allow ("deny")."""

        egress_default: str

        def apply(self, org: Organization) -> None:
            org.egress_default = self.egress_default

    class Deleted(OrgEvent):
        """The organization was deleted (soft: restorable until garbage collection purges it)."""

        def apply(self, org: Organization) -> None:
            org.deleted = True
            org.deleted_on = self.timestamp

    class Restored(OrgEvent):
        """The operator restored a deleted organization (members, policies and all)."""

        def apply(self, org: Organization) -> None:
            org.deleted = False
            org.deleted_on = None

    class Purged(OrgEvent):
        """Garbage collection purged a deleted organization; its name is free again."""

        def apply(self, org: Organization) -> None:
            org.purged = True

    if TYPE_CHECKING:  # state set by the events; not dataclass fields
        name: str
        display_name: str
        members: dict[str, str]
        egress_default: str
        deleted_on: datetime | None
        purged: bool

    @classmethod
    def create(cls, *, org_id: Any, name: str, display_name: str, actor: Actor) -> Organization:
        org: Organization = cls._start(
            cls.Created,
            id=org_id,
            organization_id=str(org_id),
            actor=actor,
            name=name,
            display_name=display_name,
        )
        org.add_member(actor.id, via="creator", actor=actor)
        return org

    def is_member(self, user_id: str) -> bool:
        return user_id in self.members

    def add_member(self, user_id: str, *, via: str, actor: Actor) -> None:
        if self.deleted:
            raise NotFound("organization not found")
        if self.is_member(user_id):
            raise Conflict("the user is already a member of this organization")
        self._act(self.MemberAdded, actor, user_id=user_id, via=via)

    def set_egress_default(self, value: object, actor: Actor) -> None:
        if self.deleted:
            raise NotFound("organization not found")
        if value not in EGRESS_DEFAULTS:
            raise Invalid('egress_default must be "allow" or "deny"')
        self._act(self.EgressDefaultSet, actor, egress_default=value)

    def remove_member(self, user_id: str, actor: Actor) -> None:
        if not self.is_member(user_id):
            raise NotFound("member not found")
        self._act(self.MemberRemoved, actor, user_id=user_id)

    @property
    def is_purged(self) -> bool:
        return bool(getattr(self, "purged", False))  # absent from snapshots taken before purges

    @property
    def deleted_at(self) -> datetime:
        """When it was deleted (organizations deleted before deletion times were recorded:
        their last change, which was the deletion)."""
        return getattr(self, "deleted_on", None) or self.modified_on

    def purge_after(self, retention: timedelta) -> datetime:
        return self.deleted_at + retention

    def delete(
        self, actor: Actor, *, repositories: Sequence[str], at: datetime | None = None
    ) -> None:
        """Soft delete at `at` (the application's clock, which starts the restore window);
        refused while the organization still has `repositories`."""
        if self.deleted:
            raise NotFound(f"organization '{self.name}' not found")
        if repositories:
            shown = ", ".join(sorted(repositories)[:20])
            more = f" and {len(repositories) - 20} more" if len(repositories) > 20 else ""
            raise Conflict(
                f"organization '{self.name}' still has repositories: {shown}{more}; "
                "delete them first"
            )
        self._act(self.Deleted, actor, timestamp=at)  # None: now

    def restore(self, actor: Actor) -> None:
        if self.is_purged:
            raise NotFound(f"organization '{self.name}' was purged and cannot be restored")
        if not self.deleted:
            raise Conflict(f"organization '{self.name}' is not deleted")
        self._act(self.Restored, actor)

    def purge(self, actor: Actor) -> None:
        if not self.deleted:
            raise Conflict(f"organization '{self.name}' is not deleted")
        if not self.is_purged:
            self._act(self.Purged, actor)
