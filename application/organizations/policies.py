"""Policy commands: create, update, delete, attach and detach."""

from __future__ import annotations

from uuid import uuid4

from application.base import Result
from application.organizations.app import OrganizationsBase, require_identity_admin
from application.principal import Principal
from domain.organizations.builtins import OWNER
from domain.organizations.policy import Policy, principal_key
from domain.organizations.rules import check_label, check_text
from domain.shared.errors import Invalid


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise Invalid("policy_text must be a string")
    return value


class PolicyCommands(OrganizationsBase):
    """Policies and their attachments to users, groups, roles and agents."""

    def create_policy(
        self,
        org_id: str,
        *,
        name: object,
        policy_text: object,
        description: object = None,
        principal: Principal,
    ) -> Result[Policy]:
        require_identity_admin(principal, "CreatePolicy")
        org = self.organization(org_id)
        label = check_label(name, "policy")
        policy_id = uuid4()
        policy = Policy.create(
            policy_id=policy_id,
            organization_id=str(org.id),
            name=label,
            description=check_text(description, "description"),
            text=_text(policy_text),
            actor=principal.actor,
        )
        index = self.claim(f"policy-name:{org.id}", label, str(policy_id), "policy")
        return Result(policy, (self.record(policy, index),))

    def update_policy(
        self,
        org_id: str,
        policy_id: str,
        *,
        name: object = None,
        description: object = None,
        policy_text: object = None,
        principal: Principal,
    ) -> Result[Policy]:
        require_identity_admin(principal, "UpdatePolicy")
        org = self.organization(org_id)

        def command() -> Result[Policy]:
            policy = self.policy(str(org.id), policy_id)
            label = policy.name if name is None else check_label(name, "policy")
            changed: list[object] = []
            if label != policy.name and not policy.is_builtin:
                changed.append(self.claim(f"policy-name:{org.id}", label, policy_id, "policy"))
                changed.append(self.release(f"policy-name:{org.id}", policy.name, policy.id))
            policy.update(
                name=label,
                description=policy.description
                if description is None
                else check_text(description, "description"),
                text=policy.text if policy_text is None else _text(policy_text),
                actor=principal.actor,
            )
            return Result(policy, (self.record(policy, *changed),))

        return self.retrying(command)

    def delete_policy(self, org_id: str, policy_id: str, principal: Principal) -> Result[None]:
        require_identity_admin(principal, "DeletePolicy")
        org = self.organization(org_id)

        def command() -> Result[None]:
            policy = self.policy(str(org.id), policy_id)
            policy.delete(principal.actor)
            released = self.release(f"policy-name:{org.id}", policy.name, policy.id)
            return Result(None, (self.record(policy, released),))

        return self.retrying(command)

    def attach_policy(
        self,
        org_id: str,
        policy_id: str,
        *,
        principal_type: object,
        principal_id: object,
        principal: Principal,
    ) -> Result[Policy]:
        if not isinstance(principal_type, str) or not isinstance(principal_id, str):
            raise Invalid("principal_type and principal_id are required strings")
        require_identity_admin(principal, "AttachPolicy")
        org = self.organization(org_id)

        def command() -> Result[Policy]:
            policy = self.policy(str(org.id), policy_id)
            self.require_subject(org, principal_type, principal_id)
            policy.attach(principal_type, principal_id, principal.actor)
            return Result(policy, (self.record(policy),))

        return self.retrying(command)

    def detach_policy(
        self,
        org_id: str,
        policy_id: str,
        *,
        principal_type: object,
        principal_id: object,
        principal: Principal,
    ) -> Result[Policy]:
        if not isinstance(principal_type, str) or not isinstance(principal_id, str):
            raise Invalid("principal_type and principal_id are required")
        require_identity_admin(principal, "DetachPolicy")
        org = self.organization(org_id)

        def command() -> Result[Policy]:
            policy = self.policy(str(org.id), policy_id)
            if policy.is_builtin and policy.name == OWNER:
                self.require_an_owner(
                    str(org.id), drop_attachment=principal_key(principal_type, principal_id)
                )
            policy.detach(principal_type, principal_id, principal.actor)
            return Result(policy, (self.record(policy),))

        return self.retrying(command)
