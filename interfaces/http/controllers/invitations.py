"""Invitations: the organization's side and the invitee's side."""

from __future__ import annotations

from litestar import Controller, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from application.organizations.invitations import addresses_of
from domain.shared.errors import Invalid, NotFound
from interfaces.http.deps import ContainerDep, OrgDep, PrincipalDep, settled
from interfaces.http.schemas.errors import errors
from interfaces.http.schemas.identity import Status
from interfaces.http.schemas.organizations import (
    AnswerInvitationRequest,
    CreateInvitationRequest,
    Invitation,
    InvitationList,
    InvitationTokenCheck,
    InvitationWithDetails,
    InvitationWithDetailsList,
)
from projections.organizations.invitations import invitations_for, org_invitations


def _one(container: ContainerDep, org_id: str, invitation_id: str) -> Invitation:
    row = next(
        (
            i
            for i in org_invitations(container.db, org_id, container.now())
            if i["id"] == invitation_id
        ),
        None,
    )
    if row is None:
        raise NotFound("invitation not found")
    return Invitation(**row)


def _token(query: str | None, body: AnswerInvitationRequest | None) -> str | None:
    """The emailed invitation token, from `?token=` or the body's `token` (either shape)."""
    return query or (body.token if body is not None else None)


class OrgInvitationsController(Controller):
    """`/organizations/{organization}/invitations`."""

    path = "/organizations/{organization:str}/invitations"
    tags = ["organizations"]

    @post(
        "/",
        opt={"action": "CreateInvitation"},
        operation_id="createOrgInvitation",
        responses=errors(409),
        sync_to_thread=True,
    )
    def create(
        self,
        data: JSONBody[CreateInvitationRequest],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> Invitation:
        result = container.organizations.invite(
            org.org_id,
            email=data.email,
            username=data.username,
            group_ids=data.group_ids,
            policy_ids=data.policy_ids,
            principal=principal,
        )
        invitation = settled(container, result)
        return _one(container, org.org_id, str(invitation.id))

    @get(
        "/",
        opt={"action": "ListInvitations"},
        operation_id="listOrgInvitations",
        sync_to_thread=True,
    )
    def index(self, org: OrgDep, container: ContainerDep) -> InvitationList:
        rows = org_invitations(container.db, org.org_id, container.now())
        return InvitationList(results=[Invitation(**r) for r in rows])

    @delete(
        "/{invitation_id:str}",
        opt={"action": "RevokeInvitation"},
        operation_id="revokeOrgInvitation",
        responses=errors(409),
        status_code=HTTP_204_NO_CONTENT,
        sync_to_thread=True,
    )
    def revoke(
        self,
        invitation_id: FromPath[str],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> None:
        settled(
            container,
            container.organizations.revoke_invitation(org.org_id, invitation_id, principal),
        )


class MyInvitationsController(Controller):
    """`/invitations` — what the signed-in user was invited to."""

    path = "/invitations"
    tags = ["organizations"]

    @get(
        "/",
        opt={"action": "ListMyInvitations"},
        operation_id="listMyInvitations",
        sync_to_thread=True,
    )
    def index(self, principal: PrincipalDep, container: ContainerDep) -> InvitationWithDetailsList:
        user = container.identity.user(principal.id)
        if user is None:
            raise NotFound("user not found")
        rows = invitations_for(
            container.db, principal.id, sorted(addresses_of(user)), container.now()
        )
        return InvitationWithDetailsList(results=[InvitationWithDetails(**r) for r in rows])

    @post(
        "/{invitation_id:str}/accept",
        opt={"action": "AcceptInvitation"},
        operation_id="acceptMyInvitation",
        responses=errors(409, 410),
        status_code=200,
        sync_to_thread=True,
    )
    def accept(
        self,
        invitation_id: FromPath[str],
        principal: PrincipalDep,
        container: ContainerDep,
        token: FromQuery[str | None] = None,
        data: JSONBody[AnswerInvitationRequest | None] = None,
    ) -> Status:
        proof = _token(token, data)
        result = container.organizations.accept_invitation(invitation_id, principal, token=proof)
        settled(container, result)
        return Status(status="accepted")

    @post(
        "/{invitation_id:str}/decline",
        opt={"action": "DeclineInvitation"},
        operation_id="declineMyInvitation",
        responses=errors(409),
        status_code=200,
        sync_to_thread=True,
    )
    def decline(
        self,
        invitation_id: FromPath[str],
        principal: PrincipalDep,
        container: ContainerDep,
        token: FromQuery[str | None] = None,
        data: JSONBody[AnswerInvitationRequest | None] = None,
    ) -> Status:
        proof = _token(token, data)
        result = container.organizations.decline_invitation(invitation_id, principal, token=proof)
        settled(container, result)
        return Status(status="declined")


class InvitationTokenController(Controller):
    """`/auth/validate-invitation-token` (public: the signup page checks the emailed link)."""

    path = "/auth"
    tags = ["auth"]

    @get(
        "/validate-invitation-token",
        opt={"action": "ValidateInvitationToken"},
        operation_id="validateInvitationToken",
        responses=errors(404),
        sync_to_thread=True,
    )
    def validate(
        self,
        container: ContainerDep,
        token: FromQuery[str | None] = None,
        email: FromQuery[str | None] = None,
    ) -> InvitationTokenCheck:
        if not token:
            raise Invalid("token is required")
        invitation = container.organizations.invitation_by_token(token)
        org = container.organizations.organization(invitation.organization_id)
        local, _, domain = invitation.email.partition("@")
        return InvitationTokenCheck(
            match=email is not None and email.strip().lower() == invitation.email,
            invited_email_hint=f"{local[:1]}***@{domain}",
            organization_display_name=org.display_name,
        )
