"""CatalogQueries: the catalog's reads for the API, the console, sandboxes and imports."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from application.ports import CatalogReads
from domain.catalog.paths import check_path, check_prefix
from domain.catalog.repository import Repository
from domain.catalog.tree import Tree
from domain.shared.errors import Gone, Invalid, NotFound

MAX_DELIMITER = 8
Rows = list[dict[str, Any]]


class CatalogQueries:
    """Resolves what a read names (the head, a retained commit, a session) into a `Tree`,
    enforces retention (410) and session visibility, and reads through the CatalogReads
    port: callers never pick a database or a table."""

    def __init__(
        self,
        repository: Callable[[str, str], Repository],
        reads: CatalogReads,
        clock: Callable[[], datetime],
        known_id: Callable[[str, str], str | None] = lambda org_id, name: None,
    ) -> None:
        self._repository = repository
        self.reads = reads
        self.clock = clock
        # The id a live repository (organization, name) had when last loaded here, if any.
        self._known_id = known_id

    def repository(self, org_id: str, name: str) -> Repository:
        """The live repository (read-only: never mutate it), or NotFound."""
        return self._repository(org_id, name)

    # -- commits --------------------------------------------------------------------------
    def retained_commit(self, repo: Repository, ref: str, what: str = "") -> dict[str, Any]:
        """The commit row `ref` names: 404 if unknown, 410 once beyond retention (its older
        entry versions may already be expired, so its tree cannot be read or restored)."""
        row = self.reads.commit_row(str(repo.id), ref)
        if row is None:
            raise NotFound(f"{what + ' ' if what else ''}commit '{ref}' not found")
        if repo.is_stale(row["creation_date"], self.clock()):
            raise Gone(f"commit '{ref}' is older than the repository's retention period")
        return row

    def commit(self, org_id: str, repo_name: str, commit_id: str) -> dict[str, Any]:
        """A commit row with `is_stale` (stale commits are still described, not read)."""
        repo = self.repository(org_id, repo_name)
        row = self.reads.commit_row(str(repo.id), commit_id)
        if row is None:
            raise NotFound(f"commit '{commit_id}' not found")
        return self._described(repo, self.clock())(row)

    def log(
        self,
        org_id: str,
        repo_name: str,
        *,
        amount: int,
        ref: str | None = None,
        after: str | None = None,
        prefix: str | None = None,
        path: str | None = None,
    ) -> Rows:
        """Up to `amount + 1` commit rows (with `is_stale`) newest first, from `ref` (else
        the head), older than `after`, touching `prefix` or `path` when given."""
        repo = self.repository(org_id, repo_name)
        repo_id = str(repo.id)
        # The head from the (never-lagging) commits table, not the cached aggregate.
        below = self.reads.head_seq(repo_id) + 1
        if ref:
            below = self._seq(repo_id, ref, "ref") + 1
        if after:
            below = min(below, self._seq(repo_id, after, "after"))
        rows = self.reads.log(
            repo_id,
            below_seq=below,
            prefix=check_prefix(prefix),
            path=check_path(path, "object") if path else "",
            amount=amount + 1,
        )
        return list(map(self._described(repo, self.clock()), rows))

    # -- trees ----------------------------------------------------------------------------
    def tree(
        self, org_id: str, repo_name: str, *, session_id: str | None = None, ref: str | None = None
    ) -> Tree:
        """What a read sees: a session's view (what it committed, once committed), a
        retained commit's tree, or the head."""
        if session_id and ref:
            raise Invalid("give session_id or ref, not both")
        repo = self.repository(org_id, repo_name)
        repo_id = str(repo.id)
        if session_id:
            session = self._session(repo_id, session_id)
            if session["status"] == "rolled_back":
                raise NotFound("the session was rolled back")
            if session["status"] == "committed":  # reads through it see what it committed
                commit = self.reads.commit_of_session(repo_id, session_id)
                if commit is not None:
                    return Tree.at(repo_id, int(commit["seq"]))
            return Tree.staged(repo_id, session_id, int(session["base_seq"]))
        if ref:
            return Tree.at(repo_id, int(self.retained_commit(repo, ref)["seq"]))
        return Tree.head(repo_id)

    def entry(
        self,
        org_id: str,
        repo_name: str,
        path: str,
        *,
        session_id: str | None = None,
        ref: str | None = None,
    ) -> dict[str, Any]:
        """The entry at `path` in the tree the read names, or 404 (410 past retention)."""
        if not session_id and not ref and (known := self._known_id(org_id, repo_name)):
            # The head of a repository seen here before: the entry and the check that the
            # repository is still live under that name in one read (the catalog tables are
            # written in the append's transaction, so they are as current as the log).
            # Anything else (no entry, a repository deleted or replaced) takes the full path
            # below, which answers the right error.
            found = self.reads.live_head_entry(known, org_id, repo_name, path)
            if found is not None:
                return found
        entry = self.reads.entry(self.tree(org_id, repo_name, session_id=session_id, ref=ref), path)
        if entry is None:
            raise NotFound(f"object '{path}' not found")
        return entry

    def list_entries(
        self,
        org_id: str,
        repo_name: str,
        prefix: str,
        *,
        amount: int,
        session_id: str | None = None,
        ref: str | None = None,
        after: str | None = None,
        delimiter: str | None = None,
    ) -> Rows:
        """Up to `amount + 1` ListingEntries (objects, and prefixes with a delimiter)."""
        if session_id and ref:
            raise Invalid("give session_id or ref, not both")
        if delimiter is not None and len(delimiter) > MAX_DELIMITER:
            raise Invalid(f"delimiter is at most {MAX_DELIMITER} characters")
        tree = self.tree(org_id, repo_name, session_id=session_id, ref=ref)
        return self.reads.listing(
            tree, prefix=prefix, delimiter=delimiter or "", after=after or "", amount=amount
        )

    # -- diffs and sessions ---------------------------------------------------------------
    def diff(
        self,
        org_id: str,
        repo_name: str,
        prefix: str,
        *,
        amount: int,
        left: str | None = None,
        right: str | None = None,
        session_id: str | None = None,
        after: str | None = None,
        delimiter: str | None = None,
    ) -> Rows:
        """Up to `amount + 1` DiffEntries: a session's staged changes, or `left` (else the
        empty tree) against `right` (else the head)."""
        if session_id:
            return self.changes(org_id, repo_name, session_id, prefix, amount=amount, after=after)
        repo = self.repository(org_id, repo_name)
        repo_id = str(repo.id)
        right_seq = self._seq(repo_id, right, "right") if right else self.reads.head_seq(repo_id)
        left_seq = self._seq(repo_id, left, "left") if left else 0
        now = self.clock()
        for side, seq in (("left", left_seq), ("right", right_seq)):
            row = self.reads.commit_row_by_seq(repo_id, seq) if seq else None
            if row and repo.is_stale(row["creation_date"], now):
                raise Gone(f"the {side} commit is older than the repository's retention period")
        if left_seq == 0 and right_seq == 0:
            raise Invalid("the repository has no commits to compare")
        if left_seq == 0:  # against the empty tree: everything at `right` was added
            rows = self.reads.listing(
                Tree.at(repo_id, right_seq),
                prefix=prefix,
                delimiter=delimiter or "",
                after=after or "",
                amount=amount,
            )
            return [{**r, "status": "added"} if r["type"] == "object" else r for r in rows]
        return self.reads.diff_commits(
            repo_id,
            left_seq,
            right_seq,
            prefix=prefix,
            after=after or "",
            amount=amount,
            delimiter=delimiter or "",
        )

    def changes(
        self,
        org_id: str,
        repo_name: str,
        session_id: str,
        prefix: str,
        *,
        amount: int,
        after: str | None = None,
    ) -> Rows:
        """Up to `amount + 1` of a session's staged changes against its base."""
        repo = self.repository(org_id, repo_name)
        session = self._session(str(repo.id), session_id)
        tree = Tree.staged(str(repo.id), session_id, int(session["base_seq"]))
        return self.reads.diff_staged(tree, prefix=prefix, after=after or "", amount=amount)

    def session(self, org_id: str, repo_name: str, session_id: str) -> dict[str, Any]:
        """The repository's session row (any status), or NotFound."""
        return self._session(str(self.repository(org_id, repo_name).id), session_id)

    def pending_approval(self, org_id: str, repo_name: str, session_id: str) -> bool:
        """Whether the session waits for a human's approval (False for unknown ones)."""
        try:
            return self.session(org_id, repo_name, session_id)["status"] == "pending_approval"
        except NotFound:
            return False

    # -- helpers --------------------------------------------------------------------------
    def _session(self, repository_id: str, session_id: str) -> dict[str, Any]:
        session = self.reads.session_row(session_id)
        if session is None or session["repository_id"] != repository_id:
            raise NotFound("session not found")
        return session

    def _seq(self, repository_id: str, commit_id: str, what: str) -> int:
        row = self.reads.commit_row(repository_id, commit_id)
        if row is None:
            raise NotFound(f"{what} commit '{commit_id}' not found")
        return int(row["seq"])

    @staticmethod
    def _described(repo: Repository, now: datetime) -> Callable[[dict[str, Any]], dict[str, Any]]:
        def described(row: dict[str, Any]) -> dict[str, Any]:
            return {**row, "is_stale": repo.is_stale(row["creation_date"], now)}

        return described
