"""Commits: get, log, diff, revert."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from domain.catalog.paths import check_path, check_prefix
from domain.shared.errors import Gone, Invalid, NotFound
from infra.bootstrap import Container
from interfaces.http.deps import ContainerDep, OrgDep, PrincipalDep, settled
from interfaces.http.pagination import page
from interfaces.http.resources import ObjectPrefix
from interfaces.http.schemas.catalog import RevertRequest, commit_log
from projections.catalog import history, queries


def _seq(container: Container, repo_id: str, commit_id: str, name: str) -> int:
    row = history.commit_row(container.catalog_db, repo_id, commit_id)
    if row is None:
        raise NotFound(f"{name} commit '{commit_id}' not found")
    return int(row["seq"])


class CommitsController(Controller):
    """`…/commits/{id}`, `…/commits/{id}/revert`, `…/log`, `…/diff`."""

    path = "/organizations/{organization:str}/repositories/{repository:str}"
    tags = ["commits"]

    @get(
        "/commits/{commit_id:str}",
        opt={"action": "GetCommit"},
        operation_id="getCommit",
        sync_to_thread=True,
    )
    def read(
        self,
        repository: FromPath[str],
        commit_id: FromPath[str],
        org: OrgDep,
        container: ContainerDep,
    ) -> dict[str, Any]:
        repo = container.catalog.get_repository(org.org_id, repository, read_only=True)
        row = history.commit_row(container.catalog_db, str(repo.id), commit_id)
        if row is None:
            raise NotFound(f"commit '{commit_id}' not found")
        return commit_log(row, container.catalog.retention_days(repo), container.catalog.clock())

    @post(
        "/commits/{commit_id:str}/revert",
        opt={"action": "RevertCommit"},
        operation_id="revertCommit",
        sync_to_thread=True,
    )
    def revert(
        self,
        repository: FromPath[str],
        commit_id: FromPath[str],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
        data: JSONBody[RevertRequest | None] = None,
    ) -> dict[str, str]:
        body = data or RevertRequest()
        outcome = settled(
            container,
            container.catalog.revert(
                org.org_id,
                repository,
                commit_id,
                message=body.message,
                metadata=body.metadata,
                principal=principal,
            ),
        )
        return {"commit_id": outcome.commit_id}

    @get("/log", opt={"action": "ListCommits"}, operation_id="getLog", sync_to_thread=True)
    def log(
        self,
        repository: FromPath[str],
        org: OrgDep,
        container: ContainerDep,
        ref: FromQuery[str | None] = None,
        after: FromQuery[str | None] = None,
        amount: FromQuery[int | None] = None,
        prefix: FromQuery[str | None] = None,
        object: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        repo = container.catalog.get_repository(org.org_id, repository, read_only=True)
        # The head from the (never-lagging) commits table, not the cached aggregate.
        below = history.head_seq(container.catalog_db, str(repo.id)) + 1
        if ref:
            below = _seq(container, str(repo.id), ref, "ref") + 1
        if after:
            below = min(below, _seq(container, str(repo.id), after, "after"))
        size = page.size(amount)
        rows = history.log(
            container.catalog_db,
            str(repo.id),
            below_seq=below,
            prefix=check_prefix(prefix),
            path=check_path(object, "object") if object else "",
            amount=size + 1,
        )
        days, now = container.catalog.retention_days(repo), container.catalog.clock()
        return page.of([commit_log(r, days, now) for r in rows], size, key="id")

    @get(
        "/diff",
        opt={"action": "DiffCommits", "resource_prefix": "prefix"},
        operation_id="diffRefs",
        sync_to_thread=True,
    )
    def diff(
        self,
        repository: FromPath[str],
        org: OrgDep,
        container: ContainerDep,
        object_prefix: ObjectPrefix,
        left: FromQuery[str | None] = None,
        right: FromQuery[str | None] = None,
        session_id: FromQuery[str | None] = None,
        after: FromQuery[str | None] = None,
        amount: FromQuery[int | None] = None,
        delimiter: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        repo = container.catalog.get_repository(org.org_id, repository, read_only=True)
        db = container.catalog_db
        size = page.size(amount, default=1000)
        if session_id:
            session = queries.get_session(db, session_id)
            if session is None or session["repository_id"] != str(repo.id):
                raise NotFound("session not found")
            rows = history.diff_session(
                db, session, prefix=object_prefix, after=after or "", amount=size
            )
            return page.of(rows, size, key="path")
        right_seq = (
            _seq(container, str(repo.id), right, "right")
            if right
            else history.head_seq(db, str(repo.id))
        )
        left_seq = _seq(container, str(repo.id), left, "left") if left else 0
        for name, seq in (("left", left_seq), ("right", right_seq)):
            row = history.commit_by_seq(db, str(repo.id), seq) if seq else None
            if row and container.catalog.is_stale(repo, row["creation_date"]):
                raise Gone(f"the {name} commit is older than the repository's retention period")
        if left_seq == 0 and right_seq == 0:
            raise Invalid("the repository has no commits to compare")
        if left_seq == 0:  # against the empty tree: everything at `right` was added
            fetch = queries.committed_fetch(db, str(repo.id), right_seq, object_prefix)
            rows = [
                {**r, "status": "added"} if r["type"] == "object" else r
                for r in queries.listing(
                    fetch,
                    prefix=object_prefix,
                    delimiter=delimiter or "",
                    after=after or "",
                    amount=size,
                )
            ]
        else:
            rows = history.diff_commits(
                db,
                str(repo.id),
                left_seq,
                right_seq,
                prefix=object_prefix,
                after=after or "",
                amount=size,
                delimiter=delimiter or "",
            )
        return page.of(rows, size, key="path")
