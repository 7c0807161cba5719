"""The organizations context: organizations, members, groups, policies, roles and agents, the
authorizer over their views, and the audit trail."""

from __future__ import annotations

from application.authz import Authorizer
from application.identity import IdentityApplication
from application.organizations import OrganizationsApplication
from infra.contexts.base import ContextParts, Shared
from infra.projections.catch_up import ViewsCatchUp
from infra.projections.manager import ProjectionManager
from projections.identity.api_keys import list_keys
from projections.organizations.audit import AuditView
from projections.organizations.authz_source import AUTHZ_VIEWS, SqlAuthzSource
from projections.organizations.groups import GroupsView
from projections.organizations.invitations import InvitationsView
from projections.organizations.organizations import OrganizationsView
from projections.organizations.policies import PoliciesView
from projections.organizations.principals import RolesAndAgentsView


def build(shared: Shared) -> ContextParts:
    db = shared.db
    identity = shared.get("identity", IdentityApplication)
    authz_source = SqlAuthzSource(db)
    authorizer = Authorizer(authz_source, shared.watch)
    organizations = OrganizationsApplication(
        shared.env("organizations"),
        factory=shared.factory,
        users=identity,
        keys=identity,
        key_ids_of=lambda kind, owner: [
            k["id"] for k in list_keys(db, kind, owner, include_revoked=False)
        ],
        authorizer=authorizer,
        signer=shared.signer,
        deleted_retention_days=shared.settings.deleted_retention_days,
        clock=shared.clock,
        observers=[shared.saved],
    )
    identity.key_owner_resolvers.update(
        role=organizations.principal_for_key, agent=organizations.principal_for_key
    )
    identity.owner_principal = organizations.owner_principal

    def fold_authz_views_here(manager: ProjectionManager) -> None:
        # Authorization never waits on a worker: this process folds what the views lack itself.
        authz_source.fold = ViewsCatchUp([manager.runners[name] for name in AUTHZ_VIEWS], db)

    return ContextParts(
        applications=[organizations],
        views=[
            OrganizationsView(),
            InvitationsView(),
            GroupsView(),
            PoliciesView(),
            RolesAndAgentsView(),
            AuditView(),
        ],
        services={"organizations": organizations, "authorizer": authorizer},
        # Authorization snapshots are current while this log's generation is.
        watched_logs=["organizations"],
        attach=[fold_authz_views_here],
    )
