"""Console pages behind emailed links: password reset and invitations."""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import quote

import anyio.to_thread
from litestar import Controller, Request, Response, get, post
from litestar.params import FromQuery
from litestar.response import Redirect

from domain.shared.errors import DomainError
from interfaces.console.pages import hidden, message, page
from interfaces.console.web import csrf_ok, html, read_form, signed_in
from interfaces.http.auth import CSRF_COOKIE
from interfaces.http.deps import ContainerDep


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
        return html(
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
        form = await read_form(request)
        try:
            await anyio.to_thread.run_sync(
                lambda: container.identity.reset_password(form.get("token"), form.get("password"))
            )
        except DomainError as e:
            return html(message("Could not reset the password", e.message, "error"), 400)
        return html(message("Password changed", "Sign in with your new password."))

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
        principal = signed_in(request, container)
        if principal is None:
            here = f"/console/invitations?token={quote(token or '')}"
            return Redirect(f"/console/login?next_={quote(here)}", status_code=303)
        try:
            invitation = container.organizations.invitation_by_token(token or "")
            org = container.organizations.organization(invitation.organization_id)
        except DomainError as e:
            return html(message("Invitation", e.message, "error"), 404)
        csrf = request.cookies.get(CSRF_COOKIE, "")
        return html(
            page(
                "Invitation",
                f"""<p>You are invited to
<b>{escape(org.display_name)}</b> ({escape(org.name)}).</p>
<form method='post' action='/console/invitations'>{hidden("csrf", csrf)}
{hidden("invitation", str(invitation.id))}{hidden("token", token or "")}
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
        form = await read_form(request)
        principal = await anyio.to_thread.run_sync(signed_in, request, container)
        if principal is None or not csrf_ok(request, form):
            return html(message("Refused", "Sign in again and retry.", "error"), 403)
        orgs = container.organizations
        decide = (
            orgs.accept_invitation if form.get("decision") == "accept" else orgs.decline_invitation
        )
        try:
            result = await anyio.to_thread.run_sync(
                # The emailed token proves the address (the account's may be unverified).
                lambda: decide(form.get("invitation", ""), principal, token=form.get("token"))
            )
        except DomainError as e:
            return html(message("Invitation", e.message, "error"), 409)
        container.wait_for(result.written)
        return html(message("Invitation", "Done."))
