"""`create_app()`: the Litestar application, with the container injected or built from settings."""

from __future__ import annotations

from functools import partial

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


class TildeLitestar(Litestar):
    """Litestar that gives every request — routed or not — an id, metrics, an access log and
    the security headers."""

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
) -> Litestar:
    """The ASGI app. Background workers start with the app unless told otherwise; `hot_paths`
    False sends every request through Litestar (the fast paths' tests compare the two)."""
    owns_container = container is None
    litestar_tuning.install()
    container = container or bootstrap(Settings())
    background = container.settings.run_projectors if run_background is None else run_background

    def on_startup() -> None:
        container.start_listening()
        if background:
            container.start_background()

    def on_shutdown() -> None:
        if isinstance(app.inner, HotPaths):
            app.inner.close()  # its blob writer process ends
        if owns_container:
            container.close()
        else:
            container.stop_background()

    # Read at call time: the registry in `routes` is the one place a context's controllers join.
    api = Router(path="/api/v1", route_handlers=routes.API_CONTROLLERS)
    app = TildeLitestar(
        route_handlers=[api, *routes.ROOT_CONTROLLERS],
        guards=[guard],
        before_request=check_json_body,
        dependencies=DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        after_exception=[remember_error],  # WebSocket refusals answer with the error body
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        openapi_config=openapi_config(),
        logging_config=None,
        request_max_body_size=1024 * 1024,
        debug=False,
    )
    document_responses(app)
    app.state.container = container
    app.security_headers = SecurityHeaders(container.settings)
    litestar = partial(Litestar.__call__, app)
    app.inner = HotPaths(app, litestar) if hot_paths else litestar
    return app
