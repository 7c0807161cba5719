"""Sessions: open, commit (or wait for approval), roll back, review and approve."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Controller, Response, delete, get, head, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from domain.catalog.paths import check_prefix
from domain.shared.errors import Invalid, NotFound
from interfaces.http.deps import ContainerDep, OrgDep, PrincipalDep, settled
from interfaces.http.pagination import page
from interfaces.http.resources import ObjectPrefix
from interfaces.http.schemas.catalog import (
    ApprovalRequiredResponse,
    CommitRequest,
    CommitSessionResponse,
    CreateSessionResponse,
)
from interfaces.http.schemas.errors import errors, no_body, returns
from interfaces.http.schemas.objects import EntryRecordList

APPROVAL_MESSAGE = "this commit requires human approval before it can be applied"


def approval_body(base_url: str, org: str, repo: str, session_id: str) -> dict[str, Any]:
    tail = f"organizations/{quote(org)}/repositories/{quote(repo)}/sessions/{session_id}/approve"
    return {
        "approval_required": True,
        "session_id": session_id,
        "message": APPROVAL_MESSAGE,
        "api_url": f"/api/v1/{tail}",
        "web_url": f"{base_url}/console/{tail}",
    }


def staged_page(
    container: ContainerDep,
    org_id: str,
    repository: str,
    session_id: str,
    prefix: str | None,
    after: str | None,
    amount: int | None,
    *,
    diff_type: bool = False,
) -> dict[str, Any]:
    size = page.size(amount)
    rows = container.catalog.queries.changes(
        org_id, repository, session_id, check_prefix(prefix), amount=size, after=after
    )
    if diff_type:
        rows = [{**r, "diff_type": r["status"]} for r in rows]
    return page.of(rows, size, key="path")


class SessionsController(Controller):
    """`…/repositories/{repository}/sessions` and `…/changes`."""

    path = "/organizations/{organization:str}/repositories/{repository:str}"
    tags = ["sessions"]

    @post(
        "/sessions",
        opt={"action": "CreateSession"},
        operation_id="createSession",
        sync_to_thread=True,
    )
    def create(
        self,
        repository: FromPath[str],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> CreateSessionResponse:
        session = settled(
            container, container.catalog.create_session(org.org_id, repository, principal)
        )
        return CreateSessionResponse(session_id=str(session.id))

    @post(
        "/sessions/{session_id:str}",
        opt={"action": "CommitSession"},
        operation_id="commitSession",
        status_code=200,
        responses={
            **returns(200, CommitSessionResponse, "Session committed"),
            **returns(202, ApprovalRequiredResponse, "Committed once a human approves"),
            **errors(409),
        },
        sync_to_thread=True,
    )
    def commit(
        self,
        repository: FromPath[str],
        session_id: FromPath[str],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
        data: JSONBody[CommitRequest | None] = None,
    ) -> Response[CommitSessionResponse | ApprovalRequiredResponse]:
        body = data or CommitRequest()
        outcome = settled(
            container,
            container.catalog.commit(
                org.org_id,
                repository,
                session_id,
                message=body.message,
                metadata=body.metadata,
                principal=principal,
            ),
        )
        if outcome.approval_required:
            return Response(
                ApprovalRequiredResponse(
                    **approval_body(container.settings.base_url, org.name, repository, session_id)
                ),
                status_code=HTTP_202_ACCEPTED,
            )
        return Response(CommitSessionResponse(commit_id=outcome.commit_id))

    @delete(
        "/sessions/{session_id:str}",
        opt={"action": "RollbackSession"},
        operation_id="rollbackSession",
        status_code=HTTP_204_NO_CONTENT,
        sync_to_thread=True,
    )
    def rollback(
        self,
        repository: FromPath[str],
        session_id: FromPath[str],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> None:
        settled(
            container, container.catalog.rollback(org.org_id, repository, session_id, principal)
        )

    @head(
        "/sessions/{session_id:str}/approve",
        # The committing agent polls this after its 202: committing is what it may do.
        opt={"action": "CommitSession"},
        operation_id="headSessionApproval",
        responses=no_body(200, "A commit is waiting for approval in this session"),
        sync_to_thread=True,
    )
    def pending(
        self,
        repository: FromPath[str],
        session_id: FromPath[str],
        org: OrgDep,
        container: ContainerDep,
    ) -> Response[None]:
        if not container.catalog.queries.pending_approval(org.org_id, repository, session_id):
            raise NotFound("no commit is waiting for approval in this session")
        return Response(None, status_code=200)

    @get(
        "/sessions/{session_id:str}/approve",
        opt={"action": "ApproveSession"},
        operation_id="getSessionChanges",
        sync_to_thread=True,
    )
    def review(
        self,
        repository: FromPath[str],
        session_id: FromPath[str],
        org: OrgDep,
        container: ContainerDep,
        prefix: FromQuery[str | None] = None,
        after: FromQuery[str | None] = None,
        amount: FromQuery[int | None] = None,
    ) -> EntryRecordList:
        return EntryRecordList.of(
            staged_page(
                container, org.org_id, repository, session_id, prefix, after, amount, diff_type=True
            )
        )

    @post(
        "/sessions/{session_id:str}/approve",
        opt={"action": "ApproveSession"},
        operation_id="approveSession",
        status_code=200,
        responses=errors(409),
        sync_to_thread=True,
    )
    def approve(
        self,
        repository: FromPath[str],
        session_id: FromPath[str],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
        data: JSONBody[CommitRequest | None] = None,
    ) -> CommitSessionResponse:
        body = data or CommitRequest()
        outcome = settled(
            container,
            container.catalog.approve(
                org.org_id,
                repository,
                session_id,
                message=body.message,
                metadata=body.metadata,
                principal=principal,
            ),
        )
        return CommitSessionResponse(commit_id=outcome.commit_id)

    @get(
        "/changes",
        opt={"action": "ListChanges", "resource_prefix": "prefix"},
        operation_id="listUncommittedChanges",
        sync_to_thread=True,
    )
    def changes(
        self,
        repository: FromPath[str],
        org: OrgDep,
        container: ContainerDep,
        object_prefix: ObjectPrefix,
        session_id: FromQuery[str | None] = None,
        after: FromQuery[str | None] = None,
        amount: FromQuery[int | None] = None,
    ) -> EntryRecordList:
        if not session_id:
            raise Invalid("session_id is required")
        return EntryRecordList.of(
            staged_page(container, org.org_id, repository, session_id, object_prefix, after, amount)
        )
