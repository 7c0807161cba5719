"""Helpers for the cache-staleness tests: an organization with members, fault injection, and
polling for the moment a process refuses what was revoked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg

from application.organizations.app import builtin_policy_id
from application.principal import Principal
from domain.organizations.builtins import MEMBER
from infra.bootstrap import Container
from tests.builders import name
from tests.conftest import create_key, create_user

# The documented bound: a removal, detach or revocation applies everywhere within it.
BOUND = 1.0


@dataclass
class Member:
    """A member of the test organization with a personal API key."""

    principal: Principal
    token: str


@dataclass
class Org:
    """An organization, its owner, and three members (one to remove, one to detach, one to
    revoke)."""

    id: str
    name: str
    owner: Principal
    removed: Member
    detached: Member
    revoked: Member


def user_principal(user: dict[str, str]) -> Principal:
    return Principal("user", user["id"], user["username"], "bearer")


def org_with_members(writer: Container) -> Org:
    owner = user_principal(create_user(writer))
    org = writer.organizations.create_organization(
        name=name("org"), display_name="Staleness", principal=owner
    ).value
    members = []
    for _ in range(3):
        user = create_user(writer)
        token = create_key(writer, user)
        writer.organizations.add_member(str(org.id), user["username"], owner)
        members.append(Member(user_principal(user), token))
    return Org(str(org.id), org.name, owner, *members)


def key_accepted(container: Container, token: str) -> bool:
    """What the HTTP guard does: the memory-only path, then the verifying one."""
    identity = container.identity
    return identity.remembered_bearer(token) is not None or (
        identity.authenticate_bearer(token) is not None
    )


def allowed(container: Container, member: Member, org: str, action: str) -> bool:
    """What the guard decides: a current cached snapshot first, then a loaded one."""
    p = member.principal
    snap = container.authorizer.cached(org)
    if snap is not None and snap.knows(p.type, p.id) and snap.allows(p.type, p.id, action, {}):
        return True
    return container.authorizer.may(p, org, action)


def revoke(writer: Container, member: Member) -> None:
    key_id = writer.identity.authenticate_bearer(member.token)
    assert key_id is not None
    writer.identity.revoke_api_key(
        key_id.key_id, owner_type="user", owner_id=member.principal.id, actor=member.principal.actor
    )


def remove_detach_revoke(writer: Container, org: Org) -> dict[str, float]:
    """The three writes that must take effect everywhere; when each one returned."""
    done: dict[str, float] = {}
    writer.organizations.remove_member(org.id, org.removed.principal.id, org.owner)
    done["removed"] = time.monotonic()
    writer.organizations.detach_policy(
        org.id,
        str(builtin_policy_id(org.id, MEMBER)),
        principal_type="user",
        principal_id=org.detached.principal.id,
        principal=org.owner,
    )
    done["detached"] = time.monotonic()
    revoke(writer, org.revoked)
    done["revoked"] = time.monotonic()
    return done


def still_granted(reader: Container, org: Org) -> dict[str, Callable[[], bool]]:
    """Per write, whether the reader still grants what it took away."""
    return {
        "removed": lambda: allowed(reader, org.removed, org.name, "GetOrganization"),
        "detached": lambda: allowed(reader, org.detached, org.name, "ListMembers"),
        "revoked": lambda: key_accepted(reader, org.revoked.token),
    }


def seconds_until_refused(
    granted: dict[str, Callable[[], bool]], since: dict[str, float], give_up: float = 5.0
) -> dict[str, float]:
    """Poll every check until it refuses; seconds from each write to its refusal."""
    took: dict[str, float] = {}
    deadline = time.monotonic() + give_up
    while len(took) < len(granted):
        for what, check in granted.items():
            if what not in took and not check():
                took[what] = time.monotonic() - since[what]
        assert time.monotonic() < deadline, f"still granted after {give_up} s: {took}"
        time.sleep(0.01)
    return took


def terminate_backends(url: str, application_name: str) -> None:
    """pg_terminate_backend on the sessions named so, and wait until they are gone."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (application_name,),
        )
        deadline = time.monotonic() + 5
        while conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            (application_name,),
        ).fetchone() != (0,):
            assert time.monotonic() < deadline, "the backend outlived pg_terminate_backend"
            time.sleep(0.01)


def wait_listening(url: str, application_name: str) -> None:
    """Until the named session has issued LISTEN."""
    deadline = time.monotonic() + 5
    with psycopg.connect(url, autocommit=True) as conn:
        while conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
            " AND query LIKE 'LISTEN%%'",
            (application_name,),
        ).fetchone() != (1,):
            assert time.monotonic() < deadline, "the listener never connected"
            time.sleep(0.01)


class WorkerProcess:
    """`tilde-server worker` in a child process, to kill -9."""

    def __init__(self, url: str, data_dir: Path) -> None:
        self.url = url
        self.data_dir = data_dir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, locks: int) -> WorkerProcess:
        """Start it and wait until it holds `locks` advisory locks (its projectors run)."""
        env = dict(os.environ)
        env.update(
            TILDE_DATABASE_URL=self.url,
            TILDE_DATA_DIR=str(self.data_dir),
            TILDE_SECRET_KEY="test-secret-key",
            TILDE_LOG_LEVEL="WARNING",
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "interfaces.cli.main", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=str(Path(__file__).resolve().parent.parent),
        )
        deadline = time.monotonic() + 30
        with psycopg.connect(self.url, autocommit=True) as conn:
            while True:
                row = conn.execute(
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                    " WHERE l.locktype = 'advisory' AND a.datname = current_database()"
                ).fetchone()
                if row is not None and row[0] >= locks:
                    return self
                assert self.proc.poll() is None, "the worker exited"
                assert time.monotonic() < deadline, "the worker never took its locks"
                time.sleep(0.05)

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
