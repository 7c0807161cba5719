"""The User aggregate's password-reset and email rules, and replay of legacy lockout events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from domain.identity.user import RESET_TTL, User
from domain.shared.errors import Conflict, Gone, Invalid
from domain.shared.values import Actor

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def new_user(*, active: bool = True) -> User:
    user_id = uuid4()
    return User.sign_up(
        user_id=user_id,
        username="alice",
        email="alice@example.com",
        email_id=str(uuid4()),
        full_name="Alice",
        company="",
        password_hash="$argon2id$fake",
        active=active,
        is_admin=False,
        actor=Actor("user", str(user_id)),
    )


def test_streams_with_the_legacy_lockout_events_still_replay() -> None:
    """Lockouts moved to the rate limiter; streams that recorded them must still load."""
    user = new_user()
    user.trigger_event(User.LoginFailed, timestamp=T0)
    user.trigger_event(User.Locked, until=T0 + timedelta(minutes=15), timestamp=T0)
    user.trigger_event(User.LoginFailuresCleared)
    user.request_password_reset("req-1", T0)
    replayed = None
    for event in user.collect_events():
        replayed = event.mutate(replayed)
    assert isinstance(replayed, User)
    assert replayed.locked_until is None and replayed.failed_logins == []
    assert replayed.reset_requests == user.reset_requests


def test_a_password_reset_works_once_before_it_expires() -> None:
    user = new_user()
    user.request_password_reset("req-1", T0)
    assert user.reset_requests == {"req-1": T0 + RESET_TTL}
    user.reset_password("req-1", "$argon2id$new", T0 + RESET_TTL - timedelta(seconds=1))
    assert user.password_hash == "$argon2id$new"
    assert user.reset_requests == {}
    with pytest.raises(Gone):
        user.reset_password("req-1", "$argon2id$again", T0 + timedelta(minutes=2))
    assert user.password_hash == "$argon2id$new"


def test_an_expired_password_reset_is_refused() -> None:
    user = new_user()
    user.request_password_reset("req-1", T0)
    with pytest.raises(Gone):
        user.reset_password("req-1", "$argon2id$new", T0 + RESET_TTL)
    with pytest.raises(Gone):
        user.reset_password("unknown", "$argon2id$new", T0)
    assert user.password_hash == "$argon2id$fake"


def test_resetting_through_one_request_voids_the_others() -> None:
    user = new_user()
    user.request_password_reset("req-1", T0)
    user.request_password_reset("req-2", T0 + timedelta(minutes=1))
    assert set(user.reset_requests) == {"req-1", "req-2"}
    user.reset_password("req-2", "$argon2id$new", T0 + timedelta(minutes=2))
    with pytest.raises(Gone):
        user.reset_password("req-1", "$argon2id$other", T0 + timedelta(minutes=3))


def test_a_deleted_user_cannot_request_or_use_a_reset() -> None:
    user = new_user()
    user.request_password_reset("req-1", T0)
    user.delete(Actor.operator())
    with pytest.raises(Gone):
        user.reset_password("req-1", "$argon2id$new", T0)
    version = user.version
    user.request_password_reset("req-2", T0)
    assert user.version == version


def test_adding_an_email_already_on_the_account_conflicts() -> None:
    user = new_user()
    with pytest.raises(Conflict) as primary:
        user.add_email("e2", "alice@example.com")
    assert primary.value.code == "EMAIL_TAKEN"
    user.add_email("e2", "second@example.com")
    assert user.emails["e2"]["email"] == "second@example.com"
    assert user.emails["e2"]["is_primary"] is False and user.emails["e2"]["verified"] is False
    with pytest.raises(Conflict):
        user.add_email("e3", "second@example.com")
    assert len(user.emails) == 2


def test_an_account_holds_at_most_twenty_emails() -> None:
    user = new_user()
    for i in range(19):
        user.add_email(f"e{i}", f"extra{i}@example.com")
    assert len(user.emails) == 20
    with pytest.raises(Invalid):
        user.add_email("e-too-many", "one-more@example.com")


def test_verifying_an_email_needs_the_matching_address() -> None:
    user = new_user()
    user.add_email("e2", "second@example.com")
    with pytest.raises(Gone):
        user.verify_email("e2", "other@example.com")
    user.verify_email("e2", "second@example.com")
    assert user.emails["e2"]["verified"] is True
    version = user.version
    user.verify_email("e2", "second@example.com")  # idempotent
    assert user.version == version
