"""Commits: get, log, diff, revert."""

from __future__ import annotations

import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from interfaces.http.deps import ContainerDep, OrgDep, PrincipalDep, settled
from interfaces.http.pagination import page
from interfaces.http.resources import ObjectPrefix
from interfaces.http.schemas.catalog import (
    CommitLog,
    CommitLogList,
    CommitSessionResponse,
    RevertRequest,
    commit_log,
)
from interfaces.http.schemas.errors import errors
from interfaces.http.schemas.objects import ListingEntryList


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
    ) -> CommitLog:
        row = container.catalog.queries.commit(org.org_id, repository, commit_id)
        return msgspec.convert(commit_log(row), CommitLog)

    @post(
        "/commits/{commit_id:str}/revert",
        opt={"action": "RevertCommit"},
        operation_id="revertCommit",
        responses=errors(409),
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
    ) -> CommitSessionResponse:
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
        return CommitSessionResponse(commit_id=outcome.commit_id)

    @get(
        "/log",
        opt={"action": "ListCommits"},
        operation_id="getLog",
        sync_to_thread=True,
    )
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
    ) -> CommitLogList:
        size = page.size(amount)
        rows = container.catalog.queries.log(
            org.org_id, repository, amount=size, ref=ref, after=after, prefix=prefix, path=object
        )
        return CommitLogList.of(page.of([commit_log(r) for r in rows], size, key="id"))

    @get(
        "/diff",
        opt={"action": "DiffCommits", "resource_prefix": "prefix"},
        operation_id="diffRefs",
        responses=errors(410),
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
    ) -> ListingEntryList:
        size = page.size(amount, default=1000)
        rows = container.catalog.queries.diff(
            org.org_id,
            repository,
            object_prefix,
            amount=size,
            left=left,
            right=right,
            session_id=session_id,
            after=after,
            delimiter=delimiter,
        )
        return ListingEntryList.of(page.of(rows, size, key="path"))
