"""Console routes: sign-in, the approval page at the 202 response's `web_url`, device login."""

from __future__ import annotations

import hmac
from html import escape
from typing import Any
from urllib.parse import quote

import anyio.to_thread
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from application.principal import Principal
from domain.shared.errors import DomainError
from infra.bootstrap import Container
from interfaces.console.pages import hidden, login_form, message, page
from interfaces.http.auth import CSRF_COOKIE, authenticate
from interfaces.http.context import client_ip
from interfaces.http.cookies import session_cookies
from interfaces.http.deps import ContainerDep
from projections.catalog.history import diff_session
from projections.catalog.queries import get_session

HTML = "text/html; charset=utf-8"


def _html(body: str, status: int = 200) -> Response[str]:
    return Response(body, media_type=HTML, status_code=status)


def _principal(request: Request[Any, Any, Any], container: Container) -> Principal | None:
    try:
        result = authenticate(container, {}, dict(request.cookies), "")
    except DomainError:
        return None
    return result.principal if result else None


async def _form(request: Request[Any, Any, Any]) -> dict[str, str]:
    form = await request.form()
    return {k: str(v) for k, v in form.items()}


def _csrf_ok(request: Request[Any, Any, Any], form: dict[str, str]) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), form.get("csrf", "").encode())


class ConsoleController(Controller):
    """`/console/...` — pages authenticate with the session cookie and post forms back."""

    path = "/console"
    include_in_schema = False

    @get("/login", opt={"action": "ViewConsole"}, operation_id="consoleLogin", sync_to_thread=False)
    def login_page(self, next_: FromQuery[str | None] = None) -> Response[str]:
        return _html(login_form(next_ or "/console"))

    @post(
        "/login", opt={"action": "ViewConsole"}, operation_id="consoleLoginSubmit", status_code=303
    )
    async def login(
        self, request: Request[Any, Any, Any], container: ContainerDep
    ) -> Response[Any]:
        form = await _form(request)
        target = form.get("next", "/console")
        if not target.startswith("/console"):
            target = "/console"
        ip = client_ip(request.scope, trust_forwarded_for=container.settings.trust_forwarded_for)
        try:
            result = await anyio.to_thread.run_sync(
                lambda: container.identity.login(
                    form.get("login", ""), form.get("password", ""), ip=ip, user_agent="console"
                )
            )
        except DomainError as e:
            return _html(login_form(target, e.message), status=401)
        container.wait_for(result.written)
        return Redirect(
            target, status_code=303, cookies=session_cookies(request, container, result.value[1])
        )

    @get("/", opt={"action": "ViewConsole"}, operation_id="consoleHome", sync_to_thread=True)
    def home(self, request: Request[Any, Any, Any], container: ContainerDep) -> Response[Any]:
        principal = _principal(request, container)
        if principal is None:
            return Redirect("/console/login?next_=/console", status_code=303)
        return _html(message("Tilde", f"Signed in as {principal.name}."))

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
        principal = _principal(request, container)
        here = request.url.path
        if principal is None:
            return Redirect(f"/console/login?next_={quote(here)}", status_code=303)
        try:
            snap = container.authorizer.authorize(
                principal, organization, "ApproveSession", {"repository": repository}
            )
            repo = container.catalog.get_repository(snap.org_id, repository)
            session = get_session(container.catalog_db, session_id)
            if session is None or session["repository_id"] != str(repo.id):
                return _html(message("Not found", "This session does not exist.", "error"), 404)
        except DomainError as e:
            return _html(message("Not available", e.message, "error"), 404)
        if session["status"] != "pending_approval":
            return _html(
                message(
                    "Nothing to approve", f"This session is {session['status'].replace('_', ' ')}."
                )
            )
        rows = diff_session(container.catalog_db, session, prefix="", after="", amount=1000)
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
        return _html(page("Review changes", body))

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
        form = await _form(request)
        principal = await anyio.to_thread.run_sync(_principal, request, container)
        if principal is None:
            return Redirect(f"/console/login?next_={quote(request.url.path)}", status_code=303)
        if not _csrf_ok(request, form):
            return _html(message("Refused", "The form expired; reload the page.", "error"), 403)

        def act() -> str:
            snap = container.authorizer.authorize(
                principal, organization, "ApproveSession", {"repository": repository}
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
            return _html(message("Could not complete", e.message, "error"), 409)
        return _html(message("Done", text))

    @get(
        "/device",
        opt={"action": "ViewConsole"},
        operation_id="consoleDevicePage",
        sync_to_thread=True,
    )
    def device_page(
        self,
        request: Request[Any, Any, Any],
        container: ContainerDep,
        code: FromQuery[str | None] = None,
    ) -> Response[Any]:
        principal = _principal(request, container)
        here = f"/console/device?code={quote(code or '')}"
        if principal is None:
            return Redirect(f"/console/login?next_={quote(here)}", status_code=303)
        csrf = request.cookies.get(CSRF_COOKIE, "")
        return _html(
            page(
                "Confirm CLI sign-in",
                f"""<p>Approve the sign-in of the Tilde CLI
as <b>{escape(principal.name)}</b> if the code matches your terminal.</p>
<form method='post' action='/console/device'>{hidden("csrf", csrf)}
<p><input type='text' name='user_code' id='user-code' value='{escape(code or "")}'></p>
<button type='submit' id='confirm'>Confirm</button></form>""",
            )
        )

    @post(
        "/device",
        opt={"action": "ViewConsole"},
        operation_id="consoleDeviceConfirm",
        status_code=200,
    )
    async def device_confirm(
        self, request: Request[Any, Any, Any], container: ContainerDep
    ) -> Response[Any]:
        form = await _form(request)
        principal = await anyio.to_thread.run_sync(_principal, request, container)
        if principal is None or not _csrf_ok(request, form):
            return _html(message("Refused", "Sign in again and retry.", "error"), 403)
        try:
            await anyio.to_thread.run_sync(
                lambda: container.identity.confirm_device(form.get("user_code"), principal.id)
            )
        except DomainError as e:
            return _html(message("Could not confirm", e.message, "error"), 404)
        return _html(message("Confirmed", "You can return to your terminal."))


class AccountPagesController(Controller):
    """`/console/reset-password` and `/console/invitations` — the targets of emailed links."""

    path = "/console"
    include_in_schema = False

    @get(
        "/reset-password",
        opt={"action": "ViewConsole"},
        operation_id="consoleResetPage",
        sync_to_thread=False,
    )
    def reset_page(self, token: FromQuery[str | None] = None) -> Response[str]:
        return _html(
            page(
                "Choose a new password",
                f"""<form method='post'
action='/console/reset-password'>{hidden("token", token or "")}
<p><label>New password (8 characters or more)<br>
<input type='password' name='password' id='password'></label></p>
<button type='submit' id='reset'>Set password</button></form>""",
            )
        )

    @post(
        "/reset-password",
        opt={"action": "ViewConsole"},
        operation_id="consoleReset",
        status_code=200,
    )
    async def reset(
        self, request: Request[Any, Any, Any], container: ContainerDep
    ) -> Response[str]:
        form = await _form(request)
        try:
            await anyio.to_thread.run_sync(
                lambda: container.identity.reset_password(form.get("token"), form.get("password"))
            )
        except DomainError as e:
            return _html(message("Could not reset the password", e.message, "error"), 400)
        return _html(message("Password changed", "Sign in with your new password."))

    @get(
        "/invitations",
        opt={"action": "ViewConsole"},
        operation_id="consoleInvitations",
        sync_to_thread=True,
    )
    def invitations(
        self,
        request: Request[Any, Any, Any],
        container: ContainerDep,
        token: FromQuery[str | None] = None,
    ) -> Response[Any]:
        principal = _principal(request, container)
        if principal is None:
            here = f"/console/invitations?token={quote(token or '')}"
            return Redirect(f"/console/login?next_={quote(here)}", status_code=303)
        try:
            invitation = container.organizations.invitation_by_token(token or "")
            org = container.organizations.organization(invitation.organization_id)
        except DomainError as e:
            return _html(message("Invitation", e.message, "error"), 404)
        csrf = request.cookies.get(CSRF_COOKIE, "")
        return _html(
            page(
                "Invitation",
                f"""<p>You are invited to
<b>{escape(org.display_name)}</b> ({escape(org.name)}).</p>
<form method='post' action='/console/invitations'>{hidden("csrf", csrf)}
{hidden("invitation", str(invitation.id))}
<button type='submit' name='decision' value='accept' id='accept'>Accept</button>
<button type='submit' name='decision' value='decline' id='decline'>Decline</button></form>""",
            )
        )

    @post(
        "/invitations",
        opt={"action": "ViewConsole"},
        operation_id="consoleInvitationAnswer",
        status_code=200,
    )
    async def answer(
        self, request: Request[Any, Any, Any], container: ContainerDep
    ) -> Response[Any]:
        form = await _form(request)
        principal = await anyio.to_thread.run_sync(_principal, request, container)
        if principal is None or not _csrf_ok(request, form):
            return _html(message("Refused", "Sign in again and retry.", "error"), 403)
        orgs = container.organizations
        decide = (
            orgs.accept_invitation if form.get("decision") == "accept" else orgs.decline_invitation
        )
        try:
            result = await anyio.to_thread.run_sync(
                lambda: decide(form.get("invitation", ""), principal)
            )
        except DomainError as e:
            return _html(message("Invitation", e.message, "error"), 409)
        container.wait_for(result.written)
        return _html(message("Invitation", "Done."))
