"""Shared state of the catalog Application: ports, lookups and the staging helper."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from application.base import Result, TildeApplication, Written
from application.catalog.group_commit import GroupCommit
from application.catalog.queries import CatalogQueries
from application.nonblocking import pause
from application.ports import BlobStore, CatalogReads, TokenSigner
from domain.catalog.repository import Repository
from domain.catalog.session import OPEN, SHARDS, Session
from domain.catalog.staging import MAX_BATCH, StagingShard, shard_id, shard_of
from domain.shared.errors import Conflict, NotFound
from domain.shared.ids import index_id, random_uuid
from domain.shared.index import IndexEntry
from domain.shared.values import Actor

CONTENDED_ATTEMPTS = 30
KNOWN_REPOSITORIES = 10_000  # remembered (organization, name) -> id pairs
SAVED_SHARDS = 10_000  # staging shards remembered as saved here (one save's read saved)
T = TypeVar("T")
# A session read ahead with its repository (`repository_and_session`): (the session, or None
# when there is none), or None when it was not read ahead.
Peeked = tuple[Session | None] | None
# (aggregate id, version) pairs a save expects their streams still to end at.
Expected = tuple[tuple[UUID, int], ...]


class CatalogBase(TildeApplication):
    """Ports and lookups the catalog command mixins share."""

    snapshotting_intervals = {Repository: 200, Session: 100, StagingShard: 100}

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        blobs: BlobStore,
        reads: CatalogReads,
        signer: TokenSigner,
        base_url: str,
        upload_ttl: int = 900,
        download_ttl: int = 300,
        deleted_retention_days: int = 7,
        **kwargs: Any,
    ) -> None:
        super().__init__(env, **kwargs)
        # How long a deleted repository stays restorable (and its name reserved) before GC.
        self.deleted_retention = timedelta(days=deleted_retention_days)
        self.blobs = blobs
        self.reads = reads
        self.signer = signer
        self.base_url = base_url.rstrip("/")
        self.upload_ttl = upload_ttl
        self.download_ttl = download_ttl
        self._repository_ids: dict[tuple[str, str], UUID] = {}  # (org, name) -> id seen
        # Staging shards as this process last saved them (see `_stage_shard`).
        self._saved_shards: dict[UUID, StagingShard] = {}
        # Concurrent stagings (parallel uploads' finalizes) share one append transaction.
        self._staging_saves: GroupCommit[Written] = GroupCommit(
            lambda *objs, **options: self.record(*objs, **options)
        )
        # The read side: every catalog read (API, console, sandboxes, imports) goes here.
        self.queries = CatalogQueries(
            partial(self.get_repository, read_only=True),
            reads,
            lambda: self.clock(),
            known_id=self._known_repository_id,
        )

    # -- lookups --------------------------------------------------------------------------
    def _known_repository_id(self, org_id: str, name: str) -> str | None:
        known = self._repository_ids.get((org_id, name))
        return str(known) if known is not None else None

    def get_repository(self, org_id: str, name: str, *, read_only: bool = False) -> Repository:
        """The live repository `name` of an organization (NotFound otherwise). Reads pass
        `read_only`: they get the cached instance without copying it or queueing behind a
        concurrent refresh, and must not change it."""
        # A live repository owns its name (the name's index entry is claimed and released
        # with it, and names never change): once an id is known, loading that repository
        # alone decides, one event-store read per request instead of two.
        load = self.peek if read_only else self.find
        key = (org_id, name)
        known = self._repository_ids.get(key)
        if known is not None:
            repo = load(known, Repository)
            if (
                repo is not None
                and not repo.deleted
                and repo.organization_id == org_id
                and repo.name == name
            ):
                return repo
            self._repository_ids.pop(key, None)
        entry = self.find(index_id(f"repo-name:{org_id}", name), IndexEntry)
        repo = load(UUID(entry.owner_id), Repository) if entry and entry.owner_id else None
        if repo is None or repo.deleted or repo.organization_id != org_id:
            raise NotFound(f"repository '{name}' not found")
        if len(self._repository_ids) >= KNOWN_REPOSITORIES:
            self._repository_ids.clear()
        self._repository_ids[key] = repo.id
        return repo

    def repository_and_session(
        self, org_id: str, name: str, session_id: str
    ) -> tuple[Repository, Peeked]:
        """`get_repository(org_id, name, read_only=True)` and, read in the same round trip
        to the event store when the repository's id is known here (`peek_many`), the session
        `session_id` as `peek` answers it, unchecked: hand it to `open_session` or `stage`
        as `peeked`, which check it where they would have read it."""
        known = self._repository_ids.get((org_id, name))
        try:
            wanted = UUID(str(session_id))
        except ValueError:
            known = None
        if known is None:
            return self.get_repository(org_id, name, read_only=True), None
        repo, session = self.peek_many([(known, Repository), (wanted, Session)])
        if repo is None or repo.deleted or repo.organization_id != org_id or repo.name != name:
            return self.get_repository(org_id, name, read_only=True), None  # decides, as ever
        return repo, (session,)

    def held_repository_and_session(
        self, org_id: str, name: str, session_id: str
    ) -> tuple[Repository, Peeked, Expected] | None:
        """Without I/O, where the event store checks expected versions: the repository
        `name` and its session `session_id` as last read here, checked live and open under
        their fast-forward locks, with their (id, version) for the staging save to expect.
        If either has moved since, that save fails as a lost race and its retry reads them
        fresh, so the answer is the one a read now would give. None when either is not
        cached here, is being fast-forwarded, or fails a check (the caller reads them, and a
        failure is answered from that read)."""
        known = self._repository_ids.get((org_id, name))
        if known is None or not self.supports_expect:
            return None
        try:
            wanted = UUID(str(session_id))
        except ValueError:
            return None
        with self.holding_cached([known, wanted]) as held:
            if held is None:
                return None
            repo, session = held
            if (
                not isinstance(repo, Repository)
                or repo.deleted
                or repo.organization_id != org_id
                or repo.name != name
                or not isinstance(session, Session)
                or session.repository_id != str(repo.id)
                or session.status != OPEN
            ):
                return None
            return repo, (session,), ((repo.id, repo.version), (session.id, session.version))

    def session(
        self,
        repo: Repository,
        session_id: str,
        *,
        read_only: bool = False,
        peeked: Peeked = None,
    ) -> Session:
        """The repository's session `session_id` (NotFound otherwise). With `read_only`, the
        cached instance itself: checks only, never mutate it (see `peek`); `peeked` is that
        read already made (`repository_and_session`)."""
        if read_only and peeked is not None:
            session = peeked[0]
        else:
            load = self.peek if read_only else self.find
            try:
                session = load(UUID(str(session_id)), Session)
            except ValueError:
                session = None
        if session is None or session.repository_id != str(repo.id):
            raise NotFound("session not found")
        return session

    def open_session(
        self, repo: Repository, session_id: str, *, read_only: bool = False, peeked: Peeked = None
    ) -> Session:
        session = self.session(repo, session_id, read_only=read_only, peeked=peeked)
        session.require_open()
        return session

    # -- staging --------------------------------------------------------------------------
    def stage(
        self,
        repo: Repository,
        session_id: str,
        entries: list[dict[str, Any]],
        actor: Actor,
        *,
        peeked: Peeked = None,
        expect: Expected = (),
    ) -> list[Written]:
        """Append staged changes to the session's shards (retrying lost races). `peeked`: the
        session as read with the repository (`repository_and_session`), used by the first
        save's first attempt in place of its own read of the session; with `expect`
        (`held_repository_and_session`), that attempt fails unless neither has moved."""
        by_shard: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for entry in entries:
            by_shard[shard_of(entry["path"], SHARDS)].append(entry)
        written = []
        for index, batch in sorted(by_shard.items()):
            for start in range(0, len(batch), MAX_BATCH):
                chunk = batch[start : start + MAX_BATCH]
                written.append(
                    self.retrying(
                        self._stager(repo, session_id, index, chunk, actor, peeked, expect),
                        conflict="the session changed concurrently; retry",
                    )
                )
                peeked, expect = None, ()
        return written

    def _stager(
        self,
        repo: Repository,
        session_id: str,
        index: int,
        entries: list[dict[str, Any]],
        actor: Actor,
        peeked: Peeked = None,
        expect: Expected = (),
    ) -> Callable[[], Written]:
        """`_stage_shard` as `retrying` calls it: every attempt after the first reads fresh
        (the repository too, when the first expected it unchanged)."""
        attempts = itertools.count()

        def attempt() -> Written:
            first = next(attempts) == 0
            current = repo
            if not first and expect:  # it was as last read here: read it now
                current = self.get_repository(repo.organization_id, repo.name, read_only=True)
            return self._stage_shard(
                current,
                session_id,
                index,
                entries,
                actor,
                fresh=not first,
                peeked=peeked if first else None,
                expect=expect if first else (),
            )

        return attempt

    def retrying(
        self,
        command: Callable[[], T],
        *,
        conflict: str = "the resource changed concurrently; retry the request",
    ) -> T:
        """Catalog writes contend on hot streams (a session's shards, which its first use of a
        shard also registers on the session; a repository's head), so parallel uploads to
        different paths and commits of disjoint sessions lose races often: retry them with a
        jittered backoff rather than fail one with a 409 that names no real conflict."""
        for attempt in range(CONTENDED_ATTEMPTS - 1):
            try:
                return command()
            except IntegrityError:
                pause(random.uniform(0, min(0.05, 0.001 * 2**attempt)))
        try:
            return command()
        except IntegrityError:
            raise Conflict(conflict) from None

    def _stage_shard(
        self,
        repo: Repository,
        session_id: str,
        index: int,
        entries: list[dict[str, Any]],
        actor: Actor,
        *,
        fresh: bool = True,
        peeked: Peeked = None,
        expect: Expected = (),
    ) -> Written:
        """One staging save. A shard this process saved last is reused as it was saved, without
        reading its stream again (`fresh` forces the read, as retries do): if anything was
        appended to the shard since (another process's staging, a commit or rollback sealing
        it), the save conflicts on the shard's version and the retry reads it fresh, so a
        sealed shard still refuses. The session is read fresh every time (its status): read
        only (no copy) when the shard is reused, since then nothing of it changes here, and
        then `peeked` (read with the repository, in the same round trip) stands for it."""
        key = shard_id(session_id, index)
        # Taken out while in use: no other thread can stage through the same instance.
        shard = None if fresh else self._saved_shards.pop(key, None)
        session = self.open_session(repo, session_id, read_only=shard is not None, peeked=peeked)
        if shard is None:
            shard = self.find(key, StagingShard)
        changed: list[Any] = []
        if shard is None:
            session.use_shard(index, actor)
            shard = StagingShard.start(
                session_id=session_id,
                organization_id=repo.organization_id,
                repository_id=str(repo.id),
                index=index,
                actor=actor,
            )
            changed.append(session)
        shard.stage(entries, actor)
        if changed:  # the session is saved with its own version check
            expect = tuple(pair for pair in expect if pair[0] != session.id)
        written = self._staging_saves.save([*changed, shard], expect)
        if len(self._saved_shards) >= SAVED_SHARDS:
            self._saved_shards.clear()
        self._saved_shards[key] = shard
        return written

    def open_staged(
        self, repo: Repository, entries: list[dict[str, Any]], actor: Actor, purpose: str
    ) -> Result[Session]:
        """A new session on the head with `entries` already staged, saved at once (a
        revert's inverse; sandboxes and imports stage their changes the same way)."""
        session = Session.open(
            session_id=random_uuid(),
            organization_id=repo.organization_id,
            repository_id=str(repo.id),
            base_seq=repo.head_seq,
            actor=actor,
            purpose=purpose,
        )
        by_shard: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for entry in entries:
            by_shard[shard_of(entry["path"], SHARDS)].append(entry)
        shards = []
        for index, batch in sorted(by_shard.items()):
            session.use_shard(index, actor)
            shard = StagingShard.start(
                session_id=str(session.id),
                organization_id=repo.organization_id,
                repository_id=str(repo.id),
                index=index,
                actor=actor,
            )
            for start in range(0, len(batch), MAX_BATCH):
                shard.stage(batch[start : start + MAX_BATCH], actor)
            shards.append(shard)
        return Result(session, (self.record(session, *shards),))

    def shards(self, session: Session) -> list[StagingShard]:
        found = []
        for index in session.shards:
            shard = self.find(shard_id(str(session.id), index), StagingShard)
            if shard is None:
                raise Conflict("the session changed concurrently; retry")
            found.append(shard)
        return found

    @staticmethod
    def lost_race(error: Exception) -> bool:
        return isinstance(error, IntegrityError)
