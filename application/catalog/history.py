"""Revert: a new commit that undoes one earlier commit, if nothing touched its paths since."""

from __future__ import annotations

import json
from contextlib import suppress
from typing import Any

from application.base import Result
from application.catalog.sessions import CommitOutcome, SessionCommands
from application.principal import Principal
from domain.catalog.commits import Committer, check_message, check_metadata
from domain.catalog.content import same_content
from domain.catalog.staging import staged_delete, staged_put
from domain.shared.errors import Conflict, DomainError, Invalid, NotFound
from domain.shared.values import stamp

REVERT_CONFLICT = "cannot revert: paths changed by later commits"


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
        """Stage the inverse of commit `target` in a session of its own, then commit it on
        the one commit path (which re-checks the paths against commits landing meanwhile)."""
        meta = check_metadata(metadata)
        text = check_message(message) if message not in (None, "") else None
        actor = principal.actor
        repo = self.get_repository(org_id, repo_name)
        repo_id = str(repo.id)
        seq = self.reads.commit_seq(repo_id, target)
        if seq is None:
            raise NotFound(f"commit '{target}' not found")
        if seq == 1:
            raise Invalid("the root commit cannot be reverted")
        # Older versions may already be expired: a revert could not restore them (410).
        self.queries.retained_commit(repo, target)
        changes = self.reads.changes_of(repo_id, seq)
        if not changes:
            raise Invalid("nothing to revert: the commit changed no objects")
        paths = [c["path"] for c in changes]
        conflicts = self.reads.paths_changed_after(repo_id, paths, seq, repo.head_seq)
        if conflicts:
            raise Conflict(f"{REVERT_CONFLICT}: {', '.join(conflicts[:20])}")
        now = stamp(self.clock())
        # Only what the commit really changed: a path whose content it left as it was
        # (bytes written back unchanged, in a log from before content identity) has
        # nothing to undo.
        inverse = [
            undo for path in paths if (undo := self._undo(repo_id, path, seq, now)) is not None
        ]
        if not inverse:
            raise Invalid("nothing to revert: the commit changed no objects")
        staged = self.open_staged(repo, inverse, actor, purpose=f"revert {target}")
        session_id = str(staged.value.id)
        try:
            committed = self.commit_staged(
                org_id,
                repo_name,
                session_id,
                message=text or f'Revert "{self._message_of(repo_id, seq)}"',
                metadata={**meta, "reverts": target},
                committer=Committer(actor, principal.name),
                closer=actor,
                kind="revert",
            )
        except DomainError as error:
            # A commit that landed meanwhile touched the paths (or the repository went):
            # nothing of the revert stays open.
            # (A repository deleted meanwhile takes its sessions with it.)
            with suppress(DomainError):
                self.rollback(org_id, repo_name, session_id, principal, reason="revert failed")
            if isinstance(error, Conflict):
                raise Conflict(f"{REVERT_CONFLICT} meanwhile; retry") from None
            raise
        return Result(committed.value, (*staged.written, *committed.written))

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
