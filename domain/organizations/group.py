"""The Group aggregate, and the GroupGraph that keeps nested groups acyclic."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from domain.shared.errors import Conflict, Invalid, NotFound
from domain.shared.scoped import OrgAggregate, OrgCreated, OrgEvent, start_state
from domain.shared.values import Actor, stamp

SUBJECT_TYPES = ("user", "group", "role", "agent")


def subject_key(subject_type: str, subject_id: str) -> str:
    return f"{subject_type}:{subject_id}"


class Group(OrgAggregate):
    """A named set of users, roles, agents and other groups; policies attach to it."""

    class Created(OrgCreated):
        """A group was created."""

        name: str
        description: str

        def apply(self, group: Group) -> None:
            start_state(group, self)
            group.name = self.name
            group.description = self.description
            group.members = {}

    class Updated(OrgEvent):
        """Name or description changed."""

        name: str
        description: str

        def apply(self, group: Group) -> None:
            group.name = self.name
            group.description = self.description

    class MemberAdded(OrgEvent):
        """A subject joined the group."""

        subject_type: str
        subject_id: str

        def apply(self, group: Group) -> None:
            key = subject_key(self.subject_type, self.subject_id)
            group.members = {**group.members, key: stamp(self.timestamp)}

    class MemberRemoved(OrgEvent):
        """A subject left the group."""

        subject_type: str
        subject_id: str

        def apply(self, group: Group) -> None:
            key = subject_key(self.subject_type, self.subject_id)
            group.members = {k: v for k, v in group.members.items() if k != key}

    class Deleted(OrgEvent):
        """The group was deleted."""

        def apply(self, group: Group) -> None:
            group.deleted = True
            group.members = {}

    if TYPE_CHECKING:  # state set by the events; not dataclass fields
        name: str
        description: str
        members: dict[str, str]

    @classmethod
    def create(
        cls, *, group_id: Any, organization_id: str, name: str, description: str, actor: Actor
    ) -> Group:
        group: Group = cls._start(
            cls.Created,
            id=group_id,
            organization_id=organization_id,
            actor=actor,
            name=name,
            description=description,
        )
        return group

    def has(self, subject_type: str, subject_id: str) -> bool:
        return subject_key(subject_type, subject_id) in self.members

    def update(self, *, name: str, description: str, actor: Actor) -> None:
        if (name, description) != (self.name, self.description):
            self._act(self.Updated, actor, name=name, description=description)

    def add(self, subject_type: str, subject_id: str, actor: Actor) -> None:
        if subject_type not in SUBJECT_TYPES:
            raise Invalid(f"subject_type must be one of {', '.join(SUBJECT_TYPES)}")
        if self.has(subject_type, subject_id):
            raise Conflict(f"{subject_type} {subject_id} is already in the group")
        self._act(self.MemberAdded, actor, subject_type=subject_type, subject_id=subject_id)

    def remove(self, subject_type: str, subject_id: str, actor: Actor) -> None:
        if not self.has(subject_type, subject_id):
            raise NotFound(f"{subject_type} {subject_id} is not in the group")
        self._act(self.MemberRemoved, actor, subject_type=subject_type, subject_id=subject_id)

    def delete(self, actor: Actor) -> None:
        if not self.deleted:
            self._act(self.Deleted, actor)


class GroupGraph(OrgAggregate):
    """The group-in-group edges of one organization, in one stream.

    Nesting changes all append to this stream, so two concurrent changes that would
    together form a cycle cannot both pass the check: the second loses the version race.
    """

    class Started(OrgCreated):
        """The organization's first nested group."""

        def apply(self, graph: GroupGraph) -> None:
            start_state(graph, self)
            graph.edges = {}

    class Linked(OrgEvent):
        """`child` became a member of `parent`."""

        parent: str
        child: str

        def apply(self, graph: GroupGraph) -> None:
            graph.edges = {
                **graph.edges,
                self.parent: sorted({*graph.edges.get(self.parent, []), self.child}),
            }

    class Unlinked(OrgEvent):
        """`child` is no longer a member of `parent` (or one of them was deleted)."""

        parent: str
        child: str

        def apply(self, graph: GroupGraph) -> None:
            children = [c for c in graph.edges.get(self.parent, []) if c != self.child]
            edges = {k: v for k, v in graph.edges.items() if k != self.parent}
            if children:
                edges[self.parent] = children
            graph.edges = edges

    if TYPE_CHECKING:  # state set by the events; not dataclass fields
        edges: dict[str, list[str]]

    @classmethod
    def start(cls, *, graph_id: Any, organization_id: str, actor: Actor) -> GroupGraph:
        graph: GroupGraph = cls._start(
            cls.Started, id=graph_id, organization_id=organization_id, actor=actor
        )
        return graph

    def reaches(self, start: str, target: str) -> bool:
        """Whether `target` is `start` or nested (transitively) inside it."""
        seen, stack = set(), [start]
        while stack:
            node = stack.pop()
            if node == target:
                return True
            if node not in seen:
                seen.add(node)
                stack.extend(self.edges.get(node, []))
        return False

    def link(self, parent: str, child: str, actor: Actor) -> None:
        if self.reaches(child, parent):
            raise Invalid("adding this group would create a cycle of nested groups")
        self._act(self.Linked, actor, parent=parent, child=child)

    def unlink(self, parent: str, child: str, actor: Actor) -> None:
        if child in self.edges.get(parent, []):
            self._act(self.Unlinked, actor, parent=parent, child=child)

    def drop(self, group_id: str, actor: Actor) -> None:
        """Remove every edge touching a deleted group."""
        for parent, children in list(self.edges.items()):
            for child in children:
                if group_id in (parent, child):
                    self.unlink(parent, child, actor)
