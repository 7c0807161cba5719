"""Identity errors with the codes the API reference names."""

from __future__ import annotations

from domain.shared.errors import Conflict, Forbidden, TooManyRequests, Unauthenticated


class EmailTaken(Conflict):
    """The email belongs to another account."""

    code = "EMAIL_TAKEN"


class UsernameTaken(Conflict):
    """The username belongs to another account."""

    code = "USERNAME_TAKEN"


class InvalidCredentials(Unauthenticated):
    """Wrong login or password."""

    code = "INVALID_CREDENTIALS"


class PendingApproval(Forbidden):
    """The account exists but an operator has not approved it yet."""

    code = "PENDING_APPROVAL"


class AccountLocked(TooManyRequests):
    """Too many recent failed logins; the account is locked for a while."""

    code = "ACCOUNT_LOCKED"


class RateLimited(TooManyRequests):
    """Too many attempts from one client address."""

    code = "RATE_LIMITED"
