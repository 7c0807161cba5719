"""The served OpenAPI document: its config, and the responses every route of a scope shares."""

from __future__ import annotations

from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Components, SecurityScheme
from litestar.routes import HTTPRoute

from domain.shared.actions import get_action
from interfaces.http.controllers.system import OpenAPIDocument
from interfaces.http.schemas.errors import errors, no_body

ORG_SCOPES = ("organization", "repository")


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="tilde-server",
        version="0.1.0",
        path="/api/v1",
        # Only our JSON route: Litestar's schema router would answer unknown paths with
        # an HTML 404 instead of the spec's error body.
        openapi_controller=OpenAPIDocument,  # type: ignore[arg-type]
        components=Components(
            security_schemes={
                "BasicAuth": SecurityScheme(type="http", scheme="basic"),
                "BearerAuth": SecurityScheme(type="http", scheme="bearer"),
            }
        ),
        security=[{"BasicAuth": []}, {"BearerAuth": []}],
    )


def shared_responses(handler: HTTPRouteHandler, path: str) -> dict[int, ResponseSpec]:
    """What any route of this scope can answer: bad input (400, replacing Litestar's `detail`
    body), an unavailable database (503), a bug (500); past the guard also 401 (no
    credentials), 403 (no policy allows it) and 429 (the sign-in budget of HTTP Basic); a
    named organization, repository or other path resource also 404."""
    action = get_action(str(handler.opt.get("action", "")))
    scope = action.scope if action else "public"
    statuses = [400, 500, 503]
    if scope != "public":
        statuses += [401, 403, 429]
    if scope in ORG_SCOPES or "{" in path:
        statuses.append(404)
    shared = errors(*sorted(statuses))
    if handler.status_code == 204 or "HEAD" in handler.http_methods:
        shared.update(no_body(handler.status_code, "Success, no content"))
    return shared


def document_responses(app: Litestar) -> None:
    """Add the shared responses to every route (a route's own `responses=` win)."""
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                shared = shared_responses(handler, route.path)
                handler.responses = {**shared, **(handler.responses or {})}
