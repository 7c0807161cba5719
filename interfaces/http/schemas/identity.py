"""Identity wire models (SignupRequest, User, UserEmail, APIToken, …)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from domain.identity.user import User as UserAggregate
from domain.shared.values import iso
from interfaces.http.schemas.base import Lenient, Out, Strict


class SignupRequest(Strict):
    username: str
    email: str
    full_name: str
    password: str
    company: str | None = None


class LoginRequest(Lenient):
    login: str
    password: str


class UpdateCurrentUserRequest(Strict):
    full_name: str | None = None
    bio: str | None = None


class DeleteCurrentUserRequest(Strict):
    password: str | None = None


class SetPasswordRequest(Strict):
    current_password: str | None = None
    new_password: str


class ForgotPasswordRequest(Strict):
    email: str


class ResetPasswordRequest(Strict):
    token: str
    password: str


class PasswordStrengthRequest(Strict):
    password: str
    user_inputs: list[str] = Field(default_factory=list)


class AddEmailRequest(Lenient):
    email: str


class CreateAPIKeyRequest(Lenient):
    name: str
    description: str | None = None


class DeviceTokenRequest(Strict):
    device_code: str


class DeviceConfirmRequest(Strict):
    user_code: str


class User(Out):
    id: str
    username: str
    email: str
    full_name: str
    company: str | None = None
    bio: str | None = None
    source: str
    status: str
    created_at: str

    omit_none = frozenset({"company", "bio"})

    @classmethod
    def of(cls, user: UserAggregate) -> User:
        return cls(
            id=str(user.id),
            username=user.username,
            email=user.email,
            full_name=user.full_name,
            company=user.company or None,
            bio=user.bio or None,
            source=user.source,
            status="active" if user.is_active else "pending",
            created_at=iso(user.created_on) or "",
        )


class OrgSummary(Out):
    id: str
    name: str
    display_name: str


class CurrentUser(Out):
    user: User
    organizations: list[OrgSummary]
    has_password: bool


class LoginResponse(Out):
    user: User


class UserEmail(Out):
    id: str
    user_id: str
    email: str
    is_primary: bool
    verified: bool
    created_at: str


class UserEmailList(Out):
    results: list[UserEmail]


class APIToken(Out):
    id: str
    user_id: str
    name: str
    description: str
    token_hint: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> APIToken:
        return cls(
            id=row["id"],
            user_id=row["owner_id"],
            name=row["name"],
            description=row["description"],
            token_hint=row["token_hint"],
            created_at=row["created_at"],
            last_used_at=row["last_used_at"],
            revoked_at=row["revoked_at"],
        )


class APITokenList(Out):
    results: list[APIToken]


class APITokenCreated(Out):
    token: str
    id: str
    name: str
    description: str


class Available(Out):
    available: bool


class PasswordStrength(Out):
    score: int
    valid: bool
    warning: str | None = None
    suggestions: list[str]

    omit_none = frozenset({"warning"})


class UserSearchResult(Out):
    username: str
    full_name: str


class UserSearchResults(Out):
    results: list[UserSearchResult]


class DeviceCodeResponse(Out):
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: int
    interval: int


class DeviceTokenResponse(Out):
    access_token: str | None = None
    error: str | None = None

    omit_none = frozenset({"access_token", "error"})


class Identities(Out):
    results: list[dict[str, Any]]
    enabled_providers: list[str]


class Providers(Out):
    providers: list[str]


class Status(Out):
    status: str
