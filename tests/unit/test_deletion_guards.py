"""Soft deletion's guards on the Organization and Repository aggregates: an organization with
repositories is not deleted, only a deleted thing is restored or purged, a purged one never
comes back, and the restore window starts at the deletion's time. Organization names never
read as ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from domain.catalog.repository import Repository
from domain.organizations.organization import Organization
from domain.organizations.rules import check_org_name, slug_problem
from domain.shared.errors import Conflict, Invalid, NotFound
from domain.shared.values import Actor

OWNER = Actor("user", "u-1")
WHEN = datetime(2026, 1, 1, tzinfo=UTC)
WEEK = timedelta(days=7)


def organization() -> Organization:
    org = Organization.create(org_id=uuid4(), name="acme", display_name="Acme", actor=OWNER)
    org.collect_events()
    return org


def repository() -> Repository:
    repo = Repository.create(
        repository_id=uuid4(), organization_id="org", name="data", settings={}, actor=OWNER
    )
    repo.collect_events()
    return repo


def test_an_organization_with_repositories_is_not_deleted_and_says_which() -> None:
    org = organization()
    names = [f"r{i:02}" for i in range(25)]
    with pytest.raises(Conflict) as refused:
        org.delete(OWNER, repositories=names, at=WHEN)
    assert "r00, r01" in refused.value.message and "r19" in refused.value.message
    assert "r20" not in refused.value.message and "and 5 more" in refused.value.message
    assert not org.deleted and org.collect_events() == []


def test_a_deleted_organization_is_restorable_until_purged() -> None:
    org = organization()
    with pytest.raises(Conflict):
        org.restore(OWNER)  # nothing to restore
    with pytest.raises(Conflict):
        org.purge(OWNER)  # a live organization is never purged
    org.delete(OWNER, repositories=[], at=WHEN)
    assert org.deleted and org.deleted_at == WHEN and org.purge_after(WEEK) == WHEN + WEEK
    with pytest.raises(NotFound):
        org.delete(OWNER, repositories=[], at=WHEN)
    org.restore(OWNER)
    assert not org.deleted
    org.delete(OWNER, repositories=[], at=WHEN + WEEK)
    org.purge(OWNER)
    assert org.is_purged
    with pytest.raises(NotFound, match="purged"):
        org.restore(OWNER)
    kinds = [type(e).__name__ for e in org.collect_events()]
    assert kinds == ["Deleted", "Restored", "Deleted", "Purged"]


def test_a_deleted_repository_is_restorable_until_purged() -> None:
    repo = repository()
    with pytest.raises(Conflict):
        repo.restore(OWNER)
    repo.delete(OWNER, at=WHEN)
    assert repo.deleted_at == WHEN and repo.purge_after(WEEK) == WHEN + WEEK
    repo.restore(OWNER)
    assert not repo.deleted
    repo.require_live()
    repo.delete(OWNER, at=WHEN)
    repo.purge(OWNER)
    with pytest.raises(NotFound, match="purged"):
        repo.restore(OWNER)


def test_organization_names_never_read_as_ids() -> None:
    some_id = uuid4()
    for name in (str(some_id), some_id.hex):
        assert slug_problem(name) == "reserved"
        with pytest.raises(Invalid, match="reads as an id"):
            check_org_name(name)
    assert check_org_name("acme-2026") == "acme-2026"
