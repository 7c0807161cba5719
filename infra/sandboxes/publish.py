"""`CatalogPublisher`: a run's changes staged into its session and committed through the
catalog's one commit path (`SessionCommands.commit`, which also asks for approval when the
repository wants an agent's commits reviewed).

The session is the sandbox's own (same id), opened at the commit the sandbox mounted.
Changes arrive relative to the mountpoint; `path_prefix` maps them back under the prefix.
Bytes stream from the upper layer into the blob store (never a whole file in memory), then
the entries are staged in batches and committed with `{sandbox_id, image, command}` as
metadata, authored by the sandbox's principal.

Idempotent: a publish retried after a crash first looks at what the session came to — a
commit (its id again, never a second commit), a pending approval — and otherwise re-stages
(staging a path again replaces it) and commits once. A conflict leaves the session open for
the caller to roll back and carries every conflicting path.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from application.base import Written
from application.catalog import CatalogApplication
from application.principal import Principal
from application.sandboxes.ports import Change
from domain.catalog.paths import check_path
from domain.catalog.repository import Repository
from domain.catalog.session import COMMITTED, PENDING_APPROVAL
from domain.catalog.staging import staged_delete, staged_put
from domain.shared.errors import Conflict, Invalid
from domain.shared.values import stamp
from infra.sandboxes.blob_sink import BlobSink

BATCH = 1000  # files uploaded and staged per round (bounded memory for 100k changes)
DEFAULT_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class Published:
    """What publishing came to (field names as the runner's `PublishOutcome`)."""

    kind: Literal["committed", "no_changes", "awaiting_approval", "conflict"]
    commit_id: str = ""
    conflicts: tuple[str, ...] = ()
    written: tuple[Written, ...] = ()
    web_url: str = ""


def under_prefix(prefix: str, path: str) -> str:
    folder = prefix.strip("/")
    return f"{folder}/{path}" if folder else path


def content_type(path: str) -> str:
    guessed, _ = mimetypes.guess_type(path, strict=False)
    return guessed or DEFAULT_CONTENT_TYPE


class CatalogPublisher:
    """Publishes collected changes into a sandbox's session."""

    def __init__(self, catalog: CatalogApplication) -> None:
        self.catalog = catalog
        self.sink = BlobSink(catalog.blobs)

    def publish(
        self,
        *,
        org_id: str,
        repo_name: str,
        session_id: str,
        changes: Iterable[Change],
        principal: Principal,
        path_prefix: str = "",
        image: str = "",
        command: Sequence[str] | None = None,
        message: str = "",
    ) -> Published:
        catalog = self.catalog
        repo = catalog.get_repository(org_id, repo_name)
        repository_id = str(repo.id)
        done = self._already(repository_id, session_id)
        if done is not None:
            return done
        written = list(self._stage(repo, session_id, changes, principal, path_prefix))
        if not catalog.reads.staged_changes(session_id):
            return Published("no_changes", written=tuple(written))
        metadata = {
            "sandbox_id": session_id,
            "image": image,
            "command": json.dumps(list(command)) if command is not None else "",
        }
        text = message or f"sandbox {session_id}: {image}"
        try:
            result = catalog.commit(
                org_id,
                repo_name,
                session_id,
                message=text,
                metadata=metadata,
                principal=principal,
            )
        except Conflict:
            done = self._already(repository_id, session_id)  # a twin publish won the race
            if done is not None:
                return done
            session = catalog.reads.session_row(session_id)
            base = int(session["base_seq"]) if session else 0
            head = catalog.reads.head_seq(repository_id)
            paths = catalog.reads.conflicting_paths(repository_id, session_id, base, head)
            if not paths:
                raise
            return Published("conflict", conflicts=tuple(paths), written=tuple(written))
        written.extend(result.written)
        outcome = result.value
        if outcome.approval_required:
            return Published("awaiting_approval", written=tuple(written))
        return Published("committed", outcome.commit_id, written=tuple(written))

    def _already(self, repository_id: str, session_id: str) -> Published | None:
        """What a session that is no longer open came to (a retried publish)."""
        row = self.catalog.reads.session_row(session_id)
        if row is None:
            return None
        if row["status"] == PENDING_APPROVAL:
            return Published("awaiting_approval")
        if row["status"] == COMMITTED:
            commit = self.catalog.reads.commit_of_session(repository_id, session_id)
            if commit is not None:
                return Published("committed", str(commit["id"]))
        return None

    def _stage(
        self,
        repo: Repository,
        session_id: str,
        changes: Iterable[Change],
        principal: Principal,
        path_prefix: str,
    ) -> Iterable[Written]:
        batch: dict[str, Change] = {}
        for change in changes:
            path = under_prefix(path_prefix, change.path)
            try:
                check_path(path, new=change.kind == "put")
            except Invalid as e:
                raise Invalid(f"the sandbox wrote {change.path!r}, not an object name: {e}") from e
            batch[path] = change  # the last word on a path wins (an opaque delete, then a put)
            if len(batch) >= BATCH:
                yield from self._stage_batch(repo, session_id, batch, principal)
                batch = {}
        if batch:
            yield from self._stage_batch(repo, session_id, batch, principal)

    def _stage_batch(
        self, repo: Repository, session_id: str, batch: dict[str, Change], principal: Principal
    ) -> Iterable[Written]:
        catalog = self.catalog
        now = stamp(catalog.clock())
        puts = [(p, c.source) for p, c in batch.items() if c.kind == "put" and c.source]
        stored = self.sink.put_many(str(repo.id), [s for _, s in puts])
        entries = [
            staged_put(
                path,
                address=address,
                size=info.size,
                etag=info.etag,
                content_type=content_type(path),
                metadata={},
                last_modified=now,
            )
            for (path, _), (address, info) in zip(puts, stored, strict=True)
        ]
        for path, change in batch.items():
            # A delete of what the session cannot see (its base lacks it) is no change.
            if change.kind == "delete" and catalog.reads.session_entry(session_id, path):
                entries.append(staged_delete(path, now))
        if entries:
            yield from catalog.stage(repo, session_id, entries, principal.actor)


class SandboxPublisher:
    """The runner's `Publisher` (`publish(sandbox, changes, principal)`) over
    `CatalogPublisher`: the sandbox names the session (its id), repository, prefix, image and
    command; `web_url(org_id, repo_name, session_id)` is where a human approves."""

    def __init__(
        self, catalog: CatalogApplication, web_url: Callable[[str, str, str], str]
    ) -> None:
        self.publisher = CatalogPublisher(catalog)
        self.web_url = web_url

    def publish(self, sandbox: Any, changes: Iterable[Change], principal: Principal) -> Published:
        session_id = str(sandbox.id)
        out = self.publisher.publish(
            org_id=sandbox.organization_id,
            repo_name=sandbox.repository_name,
            session_id=session_id,
            changes=changes,
            principal=principal,
            path_prefix=sandbox.path_prefix or "",
            image=sandbox.image,
            command=sandbox.command,
        )
        if out.kind == "awaiting_approval":
            url = self.web_url(sandbox.organization_id, sandbox.repository_name, session_id)
            return replace(out, web_url=url)
        return out
