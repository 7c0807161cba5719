"""Revert: a new commit that undoes one earlier commit, if nothing touched its paths since."""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

from application.base import Result
from application.catalog.sessions import CommitOutcome, SessionCommands, check_message
from application.principal import Principal
from domain.catalog.commits import check_metadata
from domain.catalog.content import same_content
from domain.catalog.session import SHARDS, Session
from domain.catalog.staging import MAX_BATCH, StagingShard, shard_of, staged_delete, staged_put
from domain.shared.errors import Conflict, Gone, Invalid, NotFound
from domain.shared.values import stamp


class HistoryCommands(SessionCommands):
    """Commands over committed history."""

    def revert(
        self,
        org_id: str,
        repo_name: str,
        target: str,
        *,
        message: object,
        metadata: object,
        principal: Principal,
    ) -> Result[CommitOutcome]:
        meta = check_metadata(metadata)
        actor = principal.actor

        def attempt() -> Result[CommitOutcome]:
            repo = self.get_repository(org_id, repo_name)
            seq = self.reads.commit_seq(str(repo.id), target)
            if seq is None:
                raise NotFound(f"commit '{target}' not found")
            if seq == 1:
                raise Invalid("the root commit cannot be reverted")
            target_row = self.reads.commit_row_by_seq(str(repo.id), seq)
            if target_row and self.is_stale(repo, target_row["creation_date"]):
                # Older versions may already be expired: a revert could not restore them.
                raise Gone(f"commit '{target}' is older than the repository's retention period")
            changes = self.reads.changes_of(str(repo.id), seq)
            if not changes:
                raise Invalid("nothing to revert: the commit changed no objects")
            paths = [c["path"] for c in changes]
            conflicts = self.reads.paths_changed_after(str(repo.id), paths, seq, repo.head_seq)
            if conflicts:
                raise Conflict(
                    "cannot revert: paths changed by later commits: " + ", ".join(conflicts[:20])
                )
            now = stamp(self.clock())
            # Only what the commit really changed: a path whose content it left as it was
            # (bytes written back unchanged, in a log from before content identity) has
            # nothing to undo.
            inverse = [
                undo
                for path in paths
                if (undo := self._undo(str(repo.id), path, seq, now)) is not None
            ]
            if not inverse:
                raise Invalid("nothing to revert: the commit changed no objects")
            text = (
                check_message(message)
                if message not in (None, "")
                else f'Revert "{self._message_of(str(repo.id), seq)}"'
            )
            session = Session.open(
                session_id=uuid4(),
                organization_id=org_id,
                repository_id=str(repo.id),
                base_seq=repo.head_seq,
                actor=actor,
                purpose=f"revert {target}",
            )
            shards = self._staged_shards(
                session, repo.organization_id, str(repo.id), inverse, principal
            )
            staged = [
                {"path": e["path"], "op": e["op"], "address": e["address"], "etag": e["etag"]}
                for e in inverse
            ]
            outcome = self._add_commit(
                repo,
                str(session.id),
                staged,
                text,
                {**meta, "reverts": target},
                actor,
                principal.name,
                "revert",
            )
            session.mark_committed(outcome.commit_id, outcome.seq, actor)
            for shard in shards:
                shard.seal("committed", actor)
            # Order matters: the staged rows exist before the commit applies them.
            return Result(outcome, (self.record(session, *shards, repo),))

        return self.retrying(attempt, conflict="the repository changed concurrently; retry")

    def _undo(self, repo_id: str, path: str, seq: int, now: str) -> dict[str, Any] | None:
        """The staged change that restores `path` as it was before commit `seq`; None when
        that commit left its content as it was."""
        before = self.reads.entry_before(repo_id, path, seq)
        if same_content(before, self.reads.entry_before(repo_id, path, seq + 1)):
            return None
        if before is None:
            return staged_delete(path, now)
        return staged_put(
            path,
            address=before["address"],
            size=int(before["size"]),
            etag=before["etag"],
            content_type=before["content_type"],
            metadata=json.loads(before["metadata"] or "{}"),
            last_modified=now,
            source_metadata=json.loads(before["source_metadata"])
            if before.get("source_metadata")
            else None,
        )

    def _message_of(self, repo_id: str, seq: int) -> str:
        row = self.reads.commit_row_by_seq(repo_id, seq)
        return str(row["message"]) if row else ""

    def _staged_shards(
        self,
        session: Session,
        org_id: str,
        repo_id: str,
        entries: list[dict[str, Any]],
        principal: Principal,
    ) -> list[StagingShard]:
        by_shard: dict[int, list[dict[str, Any]]] = {}
        for entry in entries:
            by_shard.setdefault(shard_of(entry["path"], SHARDS), []).append(entry)
        shards = []
        for index, batch in sorted(by_shard.items()):
            session.use_shard(index, principal.actor)
            shard = StagingShard.start(
                session_id=str(session.id),
                organization_id=org_id,
                repository_id=repo_id,
                index=index,
                actor=principal.actor,
            )
            for start in range(0, len(batch), MAX_BATCH):
                shard.stage(batch[start : start + MAX_BATCH], principal.actor)
            shards.append(shard)
        return shards
