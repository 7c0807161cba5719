"""The audit redaction rule: every event field that looks secret is classified, and hidden."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from datetime import UTC, datetime
from types import SimpleNamespace

from eventsourcing.domain import Aggregate, DomainEvent

import domain
from domain.shared.redaction import (
    BOOKKEEPING,
    NEVER_SHOWN,
    NEVER_SHOWN_IN,
    REDACTED,
    SECRET_LIKE,
    SHOWN,
    event_data,
    redact,
)


def every_event_class() -> list[type]:
    """Each event class nested in each aggregate of every domain module."""
    found: dict[str, type] = {}
    for info in pkgutil.walk_packages(domain.__path__, "domain."):
        module = importlib.import_module(info.name)
        for aggregate in vars(module).values():
            if not (inspect.isclass(aggregate) and issubclass(aggregate, Aggregate)):
                continue
            for value in vars(aggregate).values():
                if inspect.isclass(value) and issubclass(value, DomainEvent):
                    found[f"{value.__module__}.{value.__qualname__}"] = value
    return list(found.values())


def test_the_walk_sees_every_context() -> None:
    names = {cls.__qualname__ for cls in every_event_class()}
    assert {"User.SignedUp", "ApiKey.Created", "Policy.Attached", "Session.Committed"} <= names
    assert len(names) > 50


def test_every_secret_looking_field_of_every_event_has_a_rule() -> None:
    unclassified = []
    for cls in every_event_class():
        for field in dataclasses.fields(cls):
            name = field.name
            if name in BOOKKEEPING or not SECRET_LIKE.search(name):
                continue
            ruled = NEVER_SHOWN | NEVER_SHOWN_IN.get(cls.__qualname__, frozenset()) | SHOWN
            if name not in ruled:
                unclassified.append(f"{cls.__qualname__}.{name}")
    assert not unclassified, f"add these to NEVER_SHOWN, NEVER_SHOWN_IN or SHOWN: {unclassified}"


def test_rules_name_real_fields() -> None:
    by_name = {cls.__qualname__: cls for cls in every_event_class()}
    for event_type, names in NEVER_SHOWN_IN.items():
        fields = {f.name for f in dataclasses.fields(by_name[event_type])}
        assert names <= fields, event_type


def test_credentials_and_emailed_tokens_are_hidden() -> None:
    data = redact(
        "User.PasswordResetRequested",
        {"request_id": "r1", "password_hash": "h", "expires_at": datetime(2026, 1, 1, tzinfo=UTC)},
    )
    assert data == {
        "request_id": REDACTED,
        "password_hash": REDACTED,
        "expires_at": "2026-01-01T00:00:00.000000Z",
    }
    assert redact("DeviceAuthorization.Requested", {"user_code": "ABCD"}) == {"user_code": REDACTED}
    for name in ("ciphertext", "value", "config", "secret_hash", "token_hash"):
        assert redact("Secret.Created", {name: "x"}) == {name: REDACTED}


def test_request_id_elsewhere_and_public_hints_are_shown() -> None:
    assert redact("Other.Event", {"request_id": "r1"}) == {"request_id": "r1"}
    assert redact("ApiKey.Created", {"token_hint": "tuk-ab…"}) == {"token_hint": "tuk-ab…"}


def test_unknown_secret_looking_names_fail_closed_even_nested() -> None:
    data = redact(
        "Connector.Created",
        {
            "webhook_signing_secret": "s",
            "metadata": {"api_token": "t", "team": "x"},
            "items": [{"password": "p", "path": "a"}],
        },
    )
    assert data == {
        "webhook_signing_secret": REDACTED,
        "metadata": {"api_token": REDACTED, "team": "x"},
        "items": [{"password": REDACTED, "path": "a"}],
    }


def test_event_data_drops_bookkeeping_unless_kept() -> None:
    event = SimpleNamespace(
        originator_id="i",
        originator_version=1,
        timestamp=None,
        originator_topic="t",
        organization_id="o",
        actor_type="user",
        actor_id="u",
        secret_hash="h",
        name="n",
    )
    assert event_data(event) == {"secret_hash": REDACTED, "name": "n"}
    kept = event_data(event, keep=frozenset({"organization_id"}))
    assert kept == {"organization_id": "o", "secret_hash": REDACTED, "name": "n"}
