"""Every password check behind one guard: address limit, per-source throttle, account lock."""

# Counts live in the rate limiter (Redis when configured), never on the User aggregate, so an
# unknown login name locks exactly like a known one and a failed guess writes no event:
# - `login:ip:{ip}`: attempts per client address (`login_attempts_per_ip` per
#   `login_ip_window`), checked before any hash is computed (the sign-in form spends one per
#   attempt, HTTP Basic one per failure);
# - `login:fail:{account}:{ip}`: failures of one account from one address; at
#   `lockout_threshold` within `lockout_window` that address is locked out of the account
#   for `lockout_duration` (the documented 10 in 15 minutes -> 15 minutes);
# - `login:fail:{account}`: failures from all addresses; at `lockout_account_threshold` the
#   account is locked for everyone, which takes many sources, so one attacker cannot lock a
#   victim out of their own account.

from __future__ import annotations

import hashlib
from datetime import timedelta

from application.identity.app import IdentityBase
from domain.identity.errors import AccountLocked, InvalidCredentials, PendingApproval, RateLimited
from domain.identity.user import User
from domain.shared.errors import Invalid


def _seconds(span: timedelta) -> int:
    return max(1, int(span.total_seconds()))


class PasswordChecks(IdentityBase):
    """Verifying passwords without becoming an oracle or a lockout weapon."""

    def _check_password(
        self, login: str, password: str, ip: str, *, count_success: bool = True
    ) -> User:
        """The user whose password this is, or the same refusal whether or not it exists.

        The sign-in form spends the address budget on every attempt (the documented "10
        sign-in attempts per minute"); HTTP Basic, which a client repeats on every request,
        spends it only on failures, but is refused before any hashing once it is spent, so
        spraying passwords costs the same either way."""
        user = self.user_by_login(login) if isinstance(login, str) else None
        if user is not None and (user.is_deleted or not user.has_password):
            user = None
        account = self._account(login, user)
        self._refuse_if_locked(account, ip)
        self._spend_attempt(ip, record=count_success)
        if user is None:
            self.hasher.verify(self._dummy_hash, password or "x")
            self._count_failure(account, ip, spent=count_success)
            raise InvalidCredentials("invalid login or password")
        if not isinstance(password, str) or not self.hasher.verify(user.password_hash, password):
            self._count_failure(account, ip, spent=count_success)
            raise InvalidCredentials("invalid login or password")
        self._count_success(account, ip)
        if not user.is_active:
            raise PendingApproval(
                "your account is waiting for approval; you will get an email when you can sign in"
            )
        return user

    def _confirm_password(self, user: User, password: object, ip: str, message: str) -> None:
        """A signed-in user re-enters their password (to change it, to delete the account):
        the same limits apply, so a stolen session cannot guess it either."""
        account = self._account("", user)
        self._refuse_if_locked(account, ip)
        self._spend_attempt(ip)
        if not isinstance(password, str) or not password:
            raise Invalid(message)
        if not self.hasher.verify(user.password_hash, password):
            self._count_failure(account, ip)
            raise Invalid(message)
        self._count_success(account, ip)

    @staticmethod
    def _account(login: str, user: User | None) -> str:
        # A known account counts under its id (username and emails share one count); an
        # unknown name under the name, so it is throttled and locks the same way.
        if user is not None:
            return f"user:{user.id}"
        # Hashed: an attacker's arbitrary names must not grow the limiter's keys.
        return "name:" + hashlib.sha256(login.strip().lower().encode()).hexdigest()[:32]

    def _refuse_if_locked(self, account: str, ip: str) -> None:
        lock = _seconds(self.policy.lockout_duration)
        wait = max(
            self.limiter.peek(f"login:lock:{account}", limit=1, window_seconds=lock),
            self.limiter.peek(f"login:lock:{account}:{ip}", limit=1, window_seconds=lock),
        )
        if wait:
            raise AccountLocked(
                f"too many failed sign-in attempts; the account is locked for {wait} more seconds",
                retry_after=wait,
            )

    def _spend_attempt(self, ip: str, *, record: bool = True) -> None:
        """Refuse when the address's budget is spent; `record` spends one attempt now."""
        window = _seconds(self.policy.login_ip_window)
        limit = self.policy.login_attempts_per_ip
        check = self.limiter.hit if record else self.limiter.peek
        if wait := check(f"login:ip:{ip}", limit=limit, window_seconds=window):
            raise RateLimited("too many sign-in attempts from this address", retry_after=wait)

    def _count_failure(self, account: str, ip: str, *, spent: bool = True) -> None:
        policy = self.policy
        if not spent:  # a check that only peeked at the address budget pays for its failure
            self.limiter.hit(
                f"login:ip:{ip}",
                limit=policy.login_attempts_per_ip,
                window_seconds=_seconds(policy.login_ip_window),
            )
        window = _seconds(policy.lockout_window)
        for scope, limit in (
            (f"{account}:{ip}", policy.lockout_threshold),
            (account, policy.lockout_account_threshold),
        ):
            failures = f"login:fail:{scope}"
            self.limiter.hit(failures, limit=limit, window_seconds=window)
            if self.limiter.peek(failures, limit=limit, window_seconds=window):
                # Locking starts a fresh count for when the lock ends.
                lock = _seconds(policy.lockout_duration)
                self.limiter.hit(f"login:lock:{scope}", limit=1, window_seconds=lock)
                self.limiter.reset(failures)

    def unlock_account(self, user: User) -> None:
        """Lift the account-wide lock (after a password reset proved the owner's email);
        the locks of the addresses that caused it stay."""
        account = self._account("", user)
        self.limiter.reset(f"login:lock:{account}")
        self.limiter.reset(f"login:fail:{account}")

    def _count_success(self, account: str, ip: str) -> None:
        # A successful sign-in resets the counters (the reference's "resets the counter").
        self.limiter.reset(f"login:fail:{account}:{ip}")
        self.limiter.reset(f"login:fail:{account}")
