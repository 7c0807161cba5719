"""The console's approval page, the 202 response's `web_url`: review a session, then decide."""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import quote

import anyio.to_thread
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from domain.shared.errors import DomainError, NotFound
from domain.shared.ids import parse_uuid
from interfaces.console.pages import hidden, message, page
from interfaces.console.web import csrf_ok, html, read_form, signed_in
from interfaces.http.auth import CSRF_COOKIE
from interfaces.http.deps import ContainerDep


def org_name(organization: str) -> str:
    """The path's organization, a name: an id in its place names nothing (404)."""
    if parse_uuid(organization) is not None:
        raise NotFound(f"organization '{organization}' not found")
    return organization


class ApprovalController(Controller):
    """`/console/.../sessions/{session_id}/approve` — approve and commit, or roll back."""

    path = "/console"
    include_in_schema = False

    @get(
        "/organizations/{organization:str}/repositories/{repository:str}/sessions/"
        "{session_id:str}/approve",
        opt={"action": "ViewConsole"},
        operation_id="consoleApprovalPage",
        sync_to_thread=True,
    )
    def approval_page(
        self,
        request: Request[Any, Any, Any],
        organization: FromPath[str],
        repository: FromPath[str],
        session_id: FromPath[str],
        container: ContainerDep,
    ) -> Response[Any]:
        principal = signed_in(request, container)
        here = request.url.path
        if principal is None:
            return Redirect(f"/console/login?next_={quote(here)}", status_code=303)
        try:
            snap = container.authorizer.authorize(
                principal, org_name(organization), "ApproveSession", {"repository": repository}
            )
            session = container.catalog.queries.session(snap.org_id, repository, session_id)
        except DomainError as e:
            return html(message("Not available", e.message, "error"), 404)
        if session["status"] != "pending_approval":
            return html(
                message(
                    "Nothing to approve", f"This session is {session['status'].replace('_', ' ')}."
                )
            )
        rows = container.catalog.queries.changes(
            snap.org_id, repository, session_id, "", amount=1000
        )
        table = "".join(
            f"<tr class='change'><td class='{escape(r['status'])}'>{escape(r['status'])}</td>"
            f"<td>{escape(r['path'])}</td><td>{r['entry']['size']}</td></tr>"
            for r in rows
        )
        csrf = request.cookies.get(CSRF_COOKIE, "")
        body = f"""<p>Repository <b>{escape(organization)}/{escape(repository)}</b>,
session <code>{escape(session_id)}</code> waits for your approval.</p>
<table id='changes'><tr><th>Change</th><th>Path</th><th>Size</th></tr>{table}</table>
<form method='post' action='{escape(here)}'>{hidden("csrf", csrf)}{hidden("decision", "approve")}
<p><label>Commit message (optional)<br><input type='text' name='message' id='commit-message'>
</label></p><button type='submit' id='approve'>Approve and commit</button></form>
<form method='post' action='{escape(here)}'>{hidden("csrf", csrf)}{hidden("decision", "rollback")}
<button type='submit' id='rollback'>Roll back</button></form>"""
        return html(page("Review changes", body))

    @post(
        "/organizations/{organization:str}/repositories/{repository:str}/sessions/"
        "{session_id:str}/approve",
        opt={"action": "ViewConsole"},
        operation_id="consoleApprovalDecision",
        status_code=200,
    )
    async def decide(
        self,
        request: Request[Any, Any, Any],
        organization: FromPath[str],
        repository: FromPath[str],
        session_id: FromPath[str],
        container: ContainerDep,
    ) -> Response[Any]:
        form = await read_form(request)
        principal = await anyio.to_thread.run_sync(signed_in, request, container)
        if principal is None:
            return Redirect(f"/console/login?next_={quote(request.url.path)}", status_code=303)
        if not csrf_ok(request, form):
            return html(message("Refused", "The form expired; reload the page.", "error"), 403)

        def act() -> str:
            snap = container.authorizer.authorize(
                principal, org_name(organization), "ApproveSession", {"repository": repository}
            )
            if form.get("decision") == "rollback":
                container.authorizer.authorize(
                    principal, organization, "RollbackSession", {"repository": repository}
                )
                result = container.catalog.rollback(
                    snap.org_id, repository, session_id, principal, reason="rejected in review"
                )
                container.wait_for(result.written)
                return "The session was rolled back; nothing was committed."
            outcome = container.catalog.approve(
                snap.org_id,
                repository,
                session_id,
                message=form.get("message") or None,
                metadata=None,
                principal=principal,
            )
            container.wait_for(outcome.written)
            return f"Approved. Commit {outcome.value.commit_id} is on the repository."

        try:
            text = await anyio.to_thread.run_sync(act)
        except DomainError as e:
            return html(message("Could not complete", e.message, "error"), 409)
        return html(message("Done", text))
