"""Listing-test helpers: trees seeded fast through the catalog application (listings read
only the catalog, so the entries need no bytes behind them), listings paged over HTTP
with `after`/`amount`, and S3's ListObjectsV2 rule as a reference."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from application.principal import Principal
from domain.catalog.staging import staged_delete, staged_put
from domain.shared.values import stamp
from infra.bootstrap import Container
from tests.catalog_helpers import OCTETS, Repo

Entry = tuple[str, str]  # (path, "object" | "prefix")


@dataclass
class Seeder:
    """Stages and commits through `container.catalog`, as the repository's owner."""

    container: Container
    org_id: str
    repo: str
    principal: Principal

    @classmethod
    def of(cls, container: Container, repo: Repo) -> Seeder:
        owner = Principal("user", repo.owner.id, repo.owner.username, "bearer")
        return cls(container, container.resolve_organization(repo.org), repo.name, owner)

    def session(self) -> str:
        catalog = self.container.catalog
        return str(catalog.create_session(self.org_id, self.repo, self.principal).value.id)

    def stage(self, sid: str, puts: Iterable[str] = (), deletes: Iterable[str] = ()) -> None:
        catalog = self.container.catalog
        now = stamp(catalog.clock())
        version = uuid.uuid4().hex
        entries = [
            staged_put(
                path,
                address=f"seed/{version}/{index}",
                size=len(path),
                etag=hashlib.md5(f"{version}{path}".encode()).hexdigest(),
                content_type=OCTETS,
                metadata={},
                last_modified=now,
            )
            for index, path in enumerate(puts)
        ] + [staged_delete(path, now) for path in deletes]
        repo = catalog.get_repository(self.org_id, self.repo)
        catalog.stage(repo, sid, entries, self.principal.actor)

    def commit(self, sid: str) -> str:
        outcome = self.container.catalog.commit(
            self.org_id, self.repo, sid, message="seed", metadata={}, principal=self.principal
        ).value
        return str(outcome.commit_id)

    def write(self, puts: Iterable[str] = (), deletes: Iterable[str] = ()) -> str:
        sid = self.session()
        self.stage(sid, puts, deletes)
        return self.commit(sid)


def page(repo: Repo, **params: Any) -> tuple[list[Entry], dict[str, Any]]:
    """One page of `GET …/objects`: its (path, type) entries and its pagination."""
    body = repo.objects(**{k: v for k, v in params.items() if v not in (None, "")})
    return [(r["path"], r["type"]) for r in body["results"]], body["pagination"]


def pages(repo: Repo, *, amount: int, max_pages: int = 10**9, **params: Any) -> list[Entry]:
    """Entries over successive pages, each resuming at the previous `next_offset`; every
    page but the last is full and says `has_more`."""
    out: list[Entry] = []
    after = params.pop("after", None)
    for _ in range(max_pages):
        entries, pagination = page(repo, amount=amount, after=after, **params)
        out += entries
        if not pagination["has_more"]:
            assert pagination["next_offset"] == ""
            break
        assert len(entries) == amount, (params, after, entries)
        assert pagination["next_offset"] == entries[-1][0]
        after = pagination["next_offset"]
    return out


def s3_listing(keys: Iterable[str], prefix: str, delimiter: str, after: str = "") -> list[Entry]:
    """ListObjectsV2's entries in order: keys and common prefixes (a key's part up to the
    first delimiter after the prefix), those greater than StartAfter."""
    found: dict[str, str] = {}
    for key in keys:
        if not key.startswith(prefix):
            continue
        cut = key.find(delimiter, len(prefix)) if delimiter else -1
        if cut >= 0:
            found[key[: cut + len(delimiter)]] = "prefix"
        else:
            found[key] = "object"
    return [(path, kind) for path, kind in sorted(found.items()) if path > after]
