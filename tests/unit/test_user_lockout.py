"""The User aggregate's lockout, password-reset and email rules, with explicit clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from domain.identity.user import RESET_TTL, User
from domain.shared.errors import Conflict, Gone, Invalid
from domain.shared.values import Actor

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
THRESHOLD = 5
WINDOW = timedelta(minutes=15)
LOCK_FOR = timedelta(minutes=10)


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


def fail(user: User, now: datetime) -> bool:
    return user.record_failed_login(now, threshold=THRESHOLD, window=WINDOW, lock_for=LOCK_FOR)


def test_account_locks_when_the_threshold_is_reached_inside_the_window() -> None:
    user = new_user()
    for i in range(THRESHOLD - 1):
        assert fail(user, T0 + timedelta(seconds=i)) is False
        assert user.locked_for(T0 + timedelta(seconds=i)) == 0
    last = T0 + timedelta(seconds=THRESHOLD)
    assert fail(user, last) is True
    assert user.locked_until == last + LOCK_FOR
    assert user.locked_for(last) == int(LOCK_FOR.total_seconds())
    # Locking starts a fresh count.
    assert user.failed_logins == []


def test_failures_outside_the_window_do_not_count() -> None:
    user = new_user()
    for i in range(THRESHOLD - 1):
        fail(user, T0 + timedelta(seconds=i))
    later = T0 + WINDOW + timedelta(minutes=1)
    # The early failures have aged out: this one is the first of a new window.
    for i in range(THRESHOLD - 1):
        assert fail(user, later + timedelta(seconds=i)) is False
    assert user.locked_until is None
    assert fail(user, later + timedelta(seconds=THRESHOLD)) is True


def test_failures_spread_across_the_window_boundary_count_only_recent_ones() -> None:
    user = new_user()
    fail(user, T0)  # exactly one window before the last attempt: too old to count
    for i in range(1, THRESHOLD - 1):
        fail(user, T0 + timedelta(minutes=i))
    assert fail(user, T0 + WINDOW) is False
    assert fail(user, T0 + WINDOW + timedelta(seconds=1)) is True


def test_the_lock_counts_down_and_expires() -> None:
    user = new_user()
    for i in range(THRESHOLD):
        fail(user, T0 + timedelta(seconds=i))
    locked_at = T0 + timedelta(seconds=THRESHOLD - 1)
    assert user.locked_for(locked_at + timedelta(minutes=4)) == 6 * 60
    # Partial seconds round up, and the answer is never 0 while still locked.
    assert user.locked_for(locked_at + LOCK_FOR - timedelta(milliseconds=300)) == 1
    assert user.locked_for(locked_at + LOCK_FOR) == 0
    assert user.locked_for(locked_at + LOCK_FOR + timedelta(days=1)) == 0


def test_a_successful_login_clears_failures_and_the_lock() -> None:
    user = new_user()
    for i in range(THRESHOLD - 1):
        fail(user, T0 + timedelta(seconds=i))
    assert len(user.failed_logins) == THRESHOLD - 1
    user.record_successful_login()
    assert user.failed_logins == [] and user.locked_until is None
    # The count starts over: another threshold-1 failures do not lock.
    for i in range(THRESHOLD - 1):
        assert fail(user, T0 + timedelta(minutes=1, seconds=i)) is False
    for i in range(THRESHOLD):
        fail(user, T0 + timedelta(minutes=2, seconds=i))
    assert user.locked_until is not None
    user.record_successful_login()
    assert user.locked_until is None and user.locked_for(T0 + timedelta(minutes=3)) == 0


def test_a_successful_login_without_failures_records_nothing() -> None:
    user = new_user()
    version = user.version
    user.record_successful_login()
    assert user.version == version
    assert [type(e) for e in user.collect_events()] == [User.SignedUp]


def test_lockout_survives_replay_from_events() -> None:
    user = new_user()
    for i in range(THRESHOLD):
        fail(user, T0 + timedelta(seconds=i))
    replayed = None
    for event in user.collect_events():
        replayed = event.mutate(replayed)
    assert isinstance(replayed, User)
    assert replayed.locked_until == user.locked_until
    assert replayed.locked_for(T0) == user.locked_for(T0)


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


def test_a_password_reset_unlocks_the_account() -> None:
    user = new_user()
    for i in range(THRESHOLD):
        fail(user, T0 + timedelta(seconds=i))
    user.request_password_reset("req-1", T0 + timedelta(minutes=1))
    user.reset_password("req-1", "$argon2id$new", T0 + timedelta(minutes=2))
    assert user.locked_for(T0 + timedelta(minutes=2)) == 0


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
