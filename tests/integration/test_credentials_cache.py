"""Verified Bearer tokens are cached, and any identity or organization write drops them —
in this process at once, in other processes on PostgreSQL NOTIFY."""

from __future__ import annotations

import time
from pathlib import Path

from domain.shared.values import Actor
from infra.bootstrap import bootstrap
from tests import services
from tests.conftest import FAST_HASHER, create_key, create_user, make_settings


def test_a_revoked_key_stops_working_at_once_in_the_same_process(tmp_path: Path) -> None:
    container = bootstrap(make_settings(tmp_path, "sqlite"), hasher=FAST_HASHER)
    try:
        user = create_user(container)
        token = create_key(container, user)
        identity = container.identity
        assert identity.remembered_bearer(token) is None  # not verified yet
        first = identity.authenticate_bearer(token)
        assert first is not None and identity.authenticate_bearer(token) == first
        assert identity.remembered_bearer(token) == first  # the guard's no-I/O path
        key_id = first.key_id
        identity.revoke_api_key(
            key_id, owner_type="user", owner_id=user["id"], actor=Actor("user", user["id"])
        )
        assert identity.remembered_bearer(token) is None
        assert identity.authenticate_bearer(token) is None
    finally:
        container.close()


def test_a_key_revoked_by_another_process_stops_working_there_too(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "postgres")
    writer = bootstrap(settings, hasher=FAST_HASHER)
    reader = bootstrap(settings, hasher=FAST_HASHER)
    reader.start_listening()
    try:
        user = create_user(writer)
        token = create_key(writer, user)
        principal = reader.identity.authenticate_bearer(token)
        assert principal is not None  # now cached in the reader
        writer.identity.revoke_api_key(
            principal.key_id,
            owner_type="user",
            owner_id=user["id"],
            actor=Actor("user", user["id"]),
        )
        deadline = time.monotonic() + 3
        while reader.identity.authenticate_bearer(token) is not None:
            assert time.monotonic() < deadline, "the revocation never reached the other process"
            time.sleep(0.01)
    finally:
        reader.close()
        writer.close()
        services.drop_database(settings.database_url)
