"""The organizations context's Application: organizations, members, invitations, groups,
policies, roles and agents."""

from __future__ import annotations

from application.organizations.app import OrganizationsBase
from application.organizations.groups import GroupCommands
from application.organizations.invitations import InvitationCommands
from application.organizations.orgs import OrganizationCommands
from application.organizations.policies import PolicyCommands
from application.organizations.principals import KeyIssuer, PrincipalCommands


class OrganizationsApplication(
    OrganizationCommands,
    InvitationCommands,
    GroupCommands,
    PolicyCommands,
    PrincipalCommands,
    OrganizationsBase,
):
    """Multi-tenant access control, event-sourced."""

    name = "organizations"


__all__ = ["KeyIssuer", "OrganizationsApplication"]
