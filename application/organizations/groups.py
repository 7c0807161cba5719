"""Group commands: create, rename, delete, and nested membership without cycles."""

from __future__ import annotations

from uuid import uuid4

from application.base import Result
from application.organizations.app import OrganizationsBase, require_identity_admin
from application.principal import Principal
from domain.organizations.group import SUBJECT_TYPES, Group
from domain.organizations.rules import check_label, check_text
from domain.shared.errors import Invalid


class GroupCommands(OrganizationsBase):
    """Groups of users, roles, agents and other groups."""

    def create_group(
        self, org_id: str, *, name: object, description: object, principal: Principal
    ) -> Result[Group]:
        org = self.organization(org_id)
        label = check_label(name, "group")
        text = check_text(description, "description")
        group_id = uuid4()
        index = self.claim(f"group-name:{org.id}", label, str(group_id), "group")
        group = Group.create(
            group_id=group_id,
            organization_id=str(org.id),
            name=label,
            description=text,
            actor=principal.actor,
        )
        return Result(group, (self.record(group, index),))

    def update_group(
        self,
        org_id: str,
        group_id: str,
        *,
        name: object = None,
        description: object = None,
        principal: Principal,
    ) -> Result[Group]:
        org = self.organization(org_id)

        def command() -> Result[Group]:
            group = self.group(str(org.id), group_id)
            label = group.name if name is None else check_label(name, "group")
            text = (
                group.description if description is None else check_text(description, "description")
            )
            changed: list[object] = []
            if label != group.name:
                changed.append(self.claim(f"group-name:{org.id}", label, group_id, "group"))
                changed.append(self.release(f"group-name:{org.id}", group.name, group.id))
            group.update(name=label, description=text, actor=principal.actor)
            return Result(group, (self.record(group, *changed),))

        return self.retrying(command)

    def delete_group(self, org_id: str, group_id: str, principal: Principal) -> Result[None]:
        """Delete a group: it leaves its parents, loses its attachments and its nesting."""
        org = self.organization(org_id)
        actor = principal.actor

        def command() -> Result[None]:
            group = self.group(str(org.id), group_id)
            self.require_an_owner(str(org.id), drop_group=group_id)
            changed: list[object] = [group]
            graph = self.graph(str(org.id), actor)
            for parent_id, children in graph.edges.items():
                if group_id in children:
                    parent = self.find_group(parent_id)
                    if parent is not None and parent.has("group", group_id):
                        parent.remove("group", group_id, actor)
                        changed.append(parent)
            graph.drop(group_id, actor)
            changed.append(graph)
            snap = self.snapshot(str(org.id))
            for policy_id in snap.attachments.get(f"group:{group_id}", []) if snap else []:
                policy = self.find_policy(policy_id)
                if policy is not None and policy.is_attached("group", group_id):
                    policy.detach("group", group_id, actor)
                    changed.append(policy)
            group.delete(actor)
            changed.append(self.release(f"group-name:{org.id}", group.name, group.id))
            return Result(None, (self.record(*changed),))

        return self.retrying(command)

    def add_group_member(
        self,
        org_id: str,
        group_id: str,
        *,
        subject_type: object,
        subject_id: object,
        principal: Principal,
    ) -> Result[Group]:
        if subject_type not in SUBJECT_TYPES or not isinstance(subject_id, str):
            raise Invalid(
                f"subject_type must be one of {', '.join(SUBJECT_TYPES)} and subject_id a string"
            )
        assert isinstance(subject_type, str)
        require_identity_admin(principal, "AddGroupMember")
        actor = principal.actor

        def command() -> Result[Group]:
            org = self.organization(org_id)
            group = self.group(str(org.id), group_id)
            self.require_subject(org, subject_type, subject_id)
            changed: list[object] = [group]
            if subject_type == "group":
                graph = self.graph(str(org.id), actor)
                graph.link(group_id, subject_id, actor)
                changed.append(graph)
            group.add(subject_type, subject_id, actor)
            return Result(group, (self.record(*changed),))

        return self.retrying(command)

    def remove_group_member(
        self,
        org_id: str,
        group_id: str,
        *,
        subject_type: object,
        subject_id: object,
        principal: Principal,
    ) -> Result[Group]:
        if not isinstance(subject_type, str) or not isinstance(subject_id, str):
            raise Invalid("subject_type and subject_id are required")
        require_identity_admin(principal, "RemoveGroupMember")
        actor = principal.actor

        def command() -> Result[Group]:
            org = self.organization(org_id)
            group = self.group(str(org.id), group_id)
            self.require_an_owner(str(org.id), drop_edge=(group_id, f"{subject_type}:{subject_id}"))
            group.remove(subject_type, subject_id, actor)
            changed: list[object] = [group]
            if subject_type == "group":
                graph = self.graph(str(org.id), actor)
                graph.unlink(group_id, subject_id, actor)
                changed.append(graph)
            return Result(group, (self.record(*changed),))

        return self.retrying(command)
