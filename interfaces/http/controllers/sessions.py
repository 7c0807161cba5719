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
from interfaces.http.schemas.catalog import CommitRequest
from projections.catalog.history import diff_session
from projections.catalog.queries import get_session

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
    repo = container.catalog.get_repository(org_id, repository, read_only=True)
    session = get_session(container.catalog_db, session_id)
    if session is None or session["repository_id"] != str(repo.id):
        raise NotFound("session not found")
    size = page.size(amount)
    rows = diff_session(
        container.catalog_db, session, prefix=check_prefix(prefix), after=after or "", amount=size
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
    ) -> dict[str, str]:
        session = settled(
            container, container.catalog.create_session(org.org_id, repository, principal)
        )
        return {"session_id": str(session.id)}

    @post(
        "/sessions/{session_id:str}",
        opt={"action": "CommitSession"},
        operation_id="commitSession",
        status_code=200,
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
    ) -> Response[dict[str, Any]]:
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
                approval_body(container.settings.base_url, org.name, repository, session_id),
                status_code=HTTP_202_ACCEPTED,
            )
        return Response({"commit_id": outcome.commit_id})

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
        sync_to_thread=True,
    )
    def pending(
        self,
        repository: FromPath[str],
        session_id: FromPath[str],
        org: OrgDep,
        container: ContainerDep,
    ) -> Response[None]:
        if not container.catalog.is_pending_approval(org.org_id, repository, session_id):
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
    ) -> dict[str, Any]:
        return staged_page(
            container, org.org_id, repository, session_id, prefix, after, amount, diff_type=True
        )

    @post(
        "/sessions/{session_id:str}/approve",
        opt={"action": "ApproveSession"},
        operation_id="approveSession",
        status_code=200,
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
    ) -> dict[str, str]:
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
        return {"commit_id": outcome.commit_id}

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
    ) -> dict[str, Any]:
        if not session_id:
            raise Invalid("session_id is required")
        return staged_page(
            container, org.org_id, repository, session_id, object_prefix, after, amount
        )
