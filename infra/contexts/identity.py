"""The identity context: users, API keys and login sessions, with their views."""

from __future__ import annotations

from datetime import timedelta

from application.identity import IdentityApplication, IdentityPolicy
from domain.shared.values import iso
from infra.contexts.base import ContextParts, Shared
from infra.crypto.passwords import Argon2PasswordHasher
from infra.settings import Settings
from projections.identity.api_keys import ApiKeysView
from projections.identity.users import UsersView
from projections.organizations.invitations import has_open_invitation


def identity_policy(settings: Settings) -> IdentityPolicy:
    return IdentityPolicy(
        login_attempts_per_ip=settings.login_attempts_per_ip,
        lockout_threshold=settings.lockout_threshold,
        lockout_account_threshold=settings.lockout_account_threshold,
        lockout_window=timedelta(minutes=settings.lockout_window_minutes),
        lockout_duration=timedelta(minutes=settings.lockout_minutes),
        session_ttl=timedelta(hours=settings.session_ttl_hours),
        auto_approve_signups=settings.auto_approve_signups,
    )


def build(shared: Shared) -> ContextParts:
    db, clock = shared.db, shared.clock
    identity = IdentityApplication(
        shared.env("identity"),
        factory=shared.factory,
        hasher=shared.hasher or Argon2PasswordHasher(),
        limiter=shared.limiter,
        signer=shared.signer,
        policy=identity_policy(shared.settings),
        clock=clock,
        observers=[shared.saved],
        has_open_invitation=lambda email: has_open_invitation(db, email, iso(clock()) or ""),
        log_watch=shared.watch,
    )
    return ContextParts(
        applications=[identity],
        views=[UsersView(), ApiKeysView()],
        services={"identity": identity},
        # Cached Bearer keys and user records are current while this log's generation is.
        watched_logs=["identity"],
    )
