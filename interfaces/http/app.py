"""`create_app()`: the Litestar application, with the container injected or built from settings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import cast

from litestar import Litestar, Router
from litestar.types import Receive, Scope, Send

from infra.bootstrap import Container, bootstrap
from infra.settings import Settings
from interfaces.http import litestar_tuning, routes
from interfaces.http.auth import guard
from interfaces.http.body_limits import check_json_body
from interfaces.http.context import observe
from interfaces.http.deps import DEPENDENCIES
from interfaces.http.errors import EXCEPTION_HANDLERS
from interfaces.http.hot_paths import ASGIApp, HotPaths
from interfaces.http.openapi import document_responses, openapi_config
from interfaces.http.security_headers import SecurityHeaders
from interfaces.http.websockets import remember_error


@dataclass(frozen=True)
class Binding:
    """What an app serves: its container, whether the app starts the container's background
    workers, and whether it closes the container when it stops (it built it)."""

    container: Container
    background: bool
    owns_container: bool


class TildeLitestar(Litestar):
    """Litestar that gives every request — routed or not — an id, metrics, an access log and
    the security headers."""

    binding: Binding
    security_headers: SecurityHeaders
    # The hot upload/read requests' fast paths in front of Litestar (interfaces/http/hot_paths).
    inner: ASGIApp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # type: ignore[override]
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        await observe(
            self.inner,
            scope,
            receive,
            send,
            self.state.container.metrics,
            self.security_headers.headers_for(scope),
        )


def create_app(
    container: Container | None = None,
    *,
    run_background: bool | None = None,
    hot_paths: bool = True,
) -> TildeLitestar:
    """The ASGI app. Background workers start with the app unless told otherwise; `hot_paths`
    False sends every request through Litestar (the fast paths' tests compare the two)."""
    return bind_app(build_app(), container, run_background=run_background, hot_paths=hot_paths)


def build_app() -> TildeLitestar:
    """Litestar's part of the app: routes, guard, dependencies, error handlers, the OpenAPI
    document. Nothing in it refers to a container (handlers, dependencies and the guard
    find theirs in `app.state`), and building it is nearly all of `create_app`'s cost
    (Litestar resolves every handler's signature), so the tests build a few and bind each
    to many containers in turn (`tests/apps.py`)."""
    litestar_tuning.install()
    # Read at call time: the registry in `routes` is the one place a context's controllers join.
    api = Router(path="/api/v1", route_handlers=routes.API_CONTROLLERS)
    app = TildeLitestar(
        route_handlers=[api, *routes.ROOT_CONTROLLERS],
        guards=[guard],
        before_request=check_json_body,
        dependencies=DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        after_exception=[remember_error],  # WebSocket refusals answer with the error body
        on_startup=[_on_startup],
        on_shutdown=[_on_shutdown],
        openapi_config=openapi_config(),
        logging_config=None,
        request_max_body_size=1024 * 1024,
        debug=False,
    )
    document_responses(app)
    return app


def bind_app(
    app: TildeLitestar,
    container: Container | None = None,
    *,
    run_background: bool | None = None,
    hot_paths: bool = True,
) -> TildeLitestar:
    """`app` serving `container` (built from the settings when None, and then closed with
    the app): what the requests, the lifespan hooks and the fast paths use. Binding an app
    whose lifespan has ended to another container leaves nothing of the first behind."""
    owns_container = container is None
    container = container or bootstrap(Settings())
    background = container.settings.run_projectors if run_background is None else run_background
    app.binding = Binding(container, background, owns_container)
    app.state.container = container
    app.security_headers = SecurityHeaders(container.settings)
    litestar = partial(Litestar.__call__, app)
    app.inner = HotPaths(app, litestar) if hot_paths else litestar
    return app


def _on_startup(app: Litestar) -> None:
    binding = cast(TildeLitestar, app).binding
    binding.container.start_listening()
    if binding.background:
        binding.container.start_background()


def _on_shutdown(app: Litestar) -> None:
    tilde = cast(TildeLitestar, app)
    if isinstance(tilde.inner, HotPaths):
        tilde.inner.close()  # its blob writer process ends
    binding = tilde.binding
    if binding.owns_container:
        binding.container.close()
    else:
        binding.container.stop_background()
