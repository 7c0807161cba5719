"""Console sign-in: the login form, the home page and the CLI's device-login confirmation."""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import quote

import anyio.to_thread
from litestar import Controller, Request, Response, get, post
from litestar.params import FromQuery
from litestar.response import Redirect

from domain.shared.errors import DomainError
from interfaces.console.pages import hidden, login_form, message, page
from interfaces.console.web import csrf_ok, html, read_form, signed_in
from interfaces.http.auth import CSRF_COOKIE
from interfaces.http.context import client_ip
from interfaces.http.cookies import session_cookies
from interfaces.http.deps import ContainerDep


class ConsoleController(Controller):
    """`/console`, `/console/login`, `/console/device` — authenticate with the session cookie."""

    path = "/console"
    include_in_schema = False

    @get("/login", opt={"action": "ViewConsole"}, operation_id="consoleLogin", sync_to_thread=False)
    def login_page(self, next_: FromQuery[str | None] = None) -> Response[str]:
        return html(login_form(next_ or "/console"))

    @post(
        "/login", opt={"action": "ViewConsole"}, operation_id="consoleLoginSubmit", status_code=303
    )
    async def login(
        self, request: Request[Any, Any, Any], container: ContainerDep
    ) -> Response[Any]:
        form = await read_form(request)
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
            return html(login_form(target, e.message), status=401)
        container.wait_for(result.written)
        return Redirect(
            target, status_code=303, cookies=session_cookies(request, container, result.value[1])
        )

    @get("/", opt={"action": "ViewConsole"}, operation_id="consoleHome", sync_to_thread=True)
    def home(self, request: Request[Any, Any, Any], container: ContainerDep) -> Response[Any]:
        principal = signed_in(request, container)
        if principal is None:
            return Redirect("/console/login?next_=/console", status_code=303)
        return html(message("Tilde", f"Signed in as {principal.name}."))

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
        principal = signed_in(request, container)
        here = f"/console/device?code={quote(code or '')}"
        if principal is None:
            return Redirect(f"/console/login?next_={quote(here)}", status_code=303)
        csrf = request.cookies.get(CSRF_COOKIE, "")
        return html(
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
        form = await read_form(request)
        principal = await anyio.to_thread.run_sync(signed_in, request, container)
        if principal is None or not csrf_ok(request, form):
            return html(message("Refused", "Sign in again and retry.", "error"), 403)
        try:
            await anyio.to_thread.run_sync(
                lambda: container.identity.confirm_device(form.get("user_code"), principal.id)
            )
        except DomainError as e:
            return html(message("Could not confirm", e.message, "error"), 404)
        return html(message("Confirmed", "You can return to your terminal."))
