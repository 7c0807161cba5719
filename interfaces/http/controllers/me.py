"""The signed-in user's own account: profile, password, emails, identities, user search."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from domain.shared.errors import NotFound
from interfaces.http.cookies import cleared_cookies, session_cookies
from interfaces.http.deps import ClientIP, ContainerDep, PrincipalDep, settled
from interfaces.http.schemas.errors import errors
from interfaces.http.schemas.identity import (
    AddEmailRequest,
    CurrentUser,
    DeleteCurrentUserRequest,
    Identities,
    OrgSummary,
    SetPasswordRequest,
    UpdateCurrentUserRequest,
    User,
    UserEmail,
    UserEmailList,
    UserSearchResult,
    UserSearchResults,
)
from projections.identity.users import list_emails, search_users
from projections.organizations.organizations import orgs_of_user


def _me(container: ContainerDep, principal: PrincipalDep) -> Any:
    user = container.identity.user(principal.id)
    if user is None or user.is_deleted:
        raise NotFound("user not found")
    return user


class MeController(Controller):
    """`/auth/me`, `/auth/emails`, `/auth/search-users`."""

    path = "/auth"
    tags = ["auth"]

    @get(
        "/me", opt={"action": "GetCurrentUser"}, operation_id="getCurrentUser", sync_to_thread=True
    )
    def get_me(self, principal: PrincipalDep, container: ContainerDep) -> CurrentUser:
        user = _me(container, principal)
        orgs = [
            OrgSummary(id=o["id"], name=o["name"], display_name=o["display_name"])
            for o in orgs_of_user(container.db, principal.id)
        ]
        return CurrentUser(user=User.of(user), organizations=orgs, has_password=user.has_password)

    @patch(
        "/me",
        opt={"action": "UpdateCurrentUser"},
        operation_id="updateCurrentUser",
        sync_to_thread=True,
    )
    def update_me(
        self,
        data: JSONBody[UpdateCurrentUserRequest],
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> User:
        result = container.identity.update_profile(
            principal.id, full_name=data.full_name, bio=data.bio
        )
        return User.of(settled(container, result))

    @delete(
        "/me",
        opt={"action": "DeleteCurrentUser"},
        operation_id="deleteCurrentUser",
        status_code=HTTP_204_NO_CONTENT,
        sync_to_thread=True,
    )
    def delete_me(
        self,
        principal: PrincipalDep,
        container: ContainerDep,
        ip: ClientIP,
        data: JSONBody[DeleteCurrentUserRequest | None] = None,
    ) -> Response[None]:
        settled(
            container,
            container.identity.delete_account(
                principal.id,
                password=data.password if data else None,
                actor=principal.actor,
                ip=ip,
            ),
        )
        return Response(None, status_code=HTTP_204_NO_CONTENT, cookies=cleared_cookies())

    @put(
        "/me/password",
        opt={"action": "SetCurrentUserPassword"},
        operation_id="setCurrentUserPassword",
        status_code=HTTP_204_NO_CONTENT,
        sync_to_thread=True,
    )
    def set_password(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[SetPasswordRequest],
        principal: PrincipalDep,
        container: ContainerDep,
        ip: ClientIP,
    ) -> Response[None]:
        result = container.identity.change_password(
            principal.id,
            current_password=data.current_password,
            new_password=data.new_password,
            actor=principal.actor,
            ip=ip,
        )
        settled(container, result)
        cookies = []
        if principal.login_session_id:
            # The change voids older sessions, this one included: hand the browser a new one.
            session = container.identity.start_session(
                principal.id, ip=ip, user_agent=request.headers.get("user-agent", "")
            )
            cookies = session_cookies(request, container, settled(container, session))
        return Response(None, status_code=HTTP_204_NO_CONTENT, cookies=cookies)

    @get(
        "/me/identities",
        opt={"action": "ListIdentities"},
        operation_id="listCurrentUserIdentities",
        sync_to_thread=False,
    )
    def identities(self, principal: PrincipalDep) -> Identities:
        return Identities(results=[], enabled_providers=[])

    @delete(
        "/me/identities/{provider:str}",
        opt={"action": "UnlinkIdentity"},
        operation_id="unlinkCurrentUserIdentity",
        status_code=HTTP_204_NO_CONTENT,
        sync_to_thread=False,
    )
    def unlink_identity(self, provider: FromPath[str], principal: PrincipalDep) -> None:
        raise NotFound(f"no '{provider}' identity is linked to your account")

    @get(
        "/oauth/{provider:str}/link",
        opt={"action": "LinkOAuthIdentity"},
        operation_id="oauthLinkAuthorize",
        sync_to_thread=False,
    )
    def link_identity(self, provider: FromPath[str], principal: PrincipalDep) -> None:
        raise NotFound(f"OAuth provider '{provider}' is not configured on this server")

    @post(
        "/emails",
        opt={"action": "AddEmail"},
        operation_id="addEmail",
        responses=errors(409),
        sync_to_thread=True,
    )
    def add_email(
        self, data: JSONBody[AddEmailRequest], principal: PrincipalDep, container: ContainerDep
    ) -> UserEmail:
        added: dict[str, Any] = settled(
            container, container.identity.add_email(principal.id, data.email)
        )
        return UserEmail(**added)

    @get("/emails", opt={"action": "ListEmails"}, operation_id="listEmails", sync_to_thread=True)
    def list_emails(self, principal: PrincipalDep, container: ContainerDep) -> UserEmailList:
        return UserEmailList(
            results=[UserEmail(**r) for r in list_emails(container.db, principal.id)]
        )

    @get(
        "/search-users",
        opt={"action": "SearchUsers"},
        operation_id="searchUsers",
        sync_to_thread=True,
    )
    def search(
        self, principal: PrincipalDep, container: ContainerDep, q: FromQuery[str | None] = None
    ) -> UserSearchResults:
        prefix = (q or "").strip().lower()
        rows = search_users(container.db, prefix) if prefix else []
        return UserSearchResults(results=[UserSearchResult(**r) for r in rows])
