"""Public account routes: signup, login, logout, password reset, checks, OAuth discovery."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from domain.identity.rules import USERNAME_RE
from domain.identity.strength import MIN_SCORE, password_strength
from domain.shared.errors import Forbidden, Invalid, NotFound, Unauthenticated
from interfaces.http.cookies import cleared_cookies, session_cookies
from interfaces.http.deps import ClientIP, ContainerDep, PrincipalDep, settled
from interfaces.http.schemas.errors import errors
from interfaces.http.schemas.identity import (
    Available,
    ForgotPasswordRequest,
    LoginRequest,
    LoginResponse,
    PasswordStrength,
    PasswordStrengthRequest,
    Providers,
    ResetPasswordRequest,
    SignupRequest,
    Status,
    User,
)


class AuthController(Controller):
    """`/auth/*` routes that need no account (plus logout)."""

    path = "/auth"
    tags = ["auth"]

    @post(
        "/signup",
        opt={"action": "Signup"},
        operation_id="signup",
        responses=errors(409),
        sync_to_thread=True,
    )
    def signup(self, data: JSONBody[SignupRequest], container: ContainerDep) -> User:
        result = container.identity.signup(
            username=data.username,
            email=data.email,
            full_name=data.full_name,
            password=data.password,
            company=data.company or "",
        )
        return User.of(settled(container, result))

    @post(
        "/login",
        opt={"action": "Login"},
        operation_id="login",
        responses=errors(401, 403, 429),
        status_code=200,
        sync_to_thread=True,
    )
    def login(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[LoginRequest],
        container: ContainerDep,
        ip: ClientIP,
    ) -> Response[LoginResponse]:
        result = container.identity.login(
            data.login, data.password, ip=ip, user_agent=request.headers.get("user-agent", "")
        )
        user, session = settled(container, result)
        return Response(
            LoginResponse(user=User.of(user)), cookies=session_cookies(request, container, session)
        )

    @post(
        "/logout",
        opt={"action": "Logout"},
        operation_id="logout",
        status_code=HTTP_204_NO_CONTENT,
        sync_to_thread=True,
    )
    def logout(self, principal: PrincipalDep, container: ContainerDep) -> Response[None]:
        if principal.login_session_id:
            settled(container, container.identity.logout(principal.login_session_id))
        return Response(None, status_code=HTTP_204_NO_CONTENT, cookies=cleared_cookies())

    @post(
        "/forgot-password",
        opt={"action": "ForgotPassword"},
        operation_id="forgotPassword",
        status_code=HTTP_204_NO_CONTENT,
        sync_to_thread=True,
    )
    def forgot_password(
        self, data: JSONBody[ForgotPasswordRequest], container: ContainerDep
    ) -> None:
        container.identity.request_password_reset(data.email)

    @post(
        "/reset-password",
        opt={"action": "ResetPassword"},
        operation_id="resetPassword",
        responses=errors(410),
        status_code=HTTP_204_NO_CONTENT,
        sync_to_thread=True,
    )
    def reset_password(self, data: JSONBody[ResetPasswordRequest], container: ContainerDep) -> None:
        settled(container, container.identity.reset_password(data.token, data.password))

    @get(
        "/verify-email",
        opt={"action": "VerifyEmail"},
        operation_id="verifyEmail",
        sync_to_thread=True,
    )
    def verify_email(self, token: FromQuery[str], container: ContainerDep) -> Status:
        settled(container, container.identity.verify_email(token))
        return Status(status="verified")

    @post(
        "/check-password-strength",
        opt={"action": "CheckPasswordStrength"},
        operation_id="checkPasswordStrength",
        status_code=200,
        sync_to_thread=False,
    )
    def check_password_strength(self, data: JSONBody[PasswordStrengthRequest]) -> PasswordStrength:
        score, warning, suggestions = password_strength(data.password, data.user_inputs)
        return PasswordStrength(
            score=score, valid=score >= MIN_SCORE, warning=warning or None, suggestions=suggestions
        )

    @get(
        "/check-username",
        opt={"action": "CheckUsername"},
        operation_id="checkUsername",
        sync_to_thread=True,
    )
    def check_username(
        self, container: ContainerDep, username: FromQuery[str | None] = None
    ) -> Available:
        if not username:
            raise Invalid("username is required")
        if not USERNAME_RE.match(username):
            return Available(available=False)
        taken = container.identity.index_owner("username", username) is not None
        return Available(available=not taken)

    @get(
        "/oauth/providers",
        opt={"action": "ListOAuthProviders"},
        operation_id="oauthProviders",
        sync_to_thread=False,
    )
    def oauth_providers(self) -> Providers:
        return Providers(providers=[])

    @get(
        "/oauth/{provider:str}/authorize",
        opt={"action": "StartOAuth"},
        operation_id="oauthAuthorize",
        sync_to_thread=False,
    )
    def oauth_authorize(self, provider: FromPath[str]) -> None:
        raise NotFound(f"OAuth provider '{provider}' is not configured on this server")

    @get(
        "/oauth/{provider:str}/callback",
        opt={"action": "FinishOAuth"},
        operation_id="oauthCallback",
        sync_to_thread=False,
    )
    def oauth_callback(self, provider: FromPath[str]) -> None:
        raise NotFound(f"OAuth provider '{provider}' is not configured on this server")

    @get(
        "/oauth/claim-info",
        opt={"action": "FinishOAuth"},
        operation_id="oauthClaimInfo",
        sync_to_thread=False,
    )
    def oauth_claim_info(self) -> None:
        raise Unauthenticated("no OAuth sign-in is in progress")

    @post(
        "/oauth/complete-registration",
        opt={"action": "FinishOAuth"},
        operation_id="oauthCompleteRegistration",
        sync_to_thread=False,
    )
    def oauth_complete_registration(self) -> None:
        raise Forbidden("no OAuth sign-in is in progress (no provider is configured)")
