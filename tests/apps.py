"""Apps lent to tests. Building the Litestar part of an app (`build_app`: every handler's
signature resolved, ~280 routes) is nearly all of `create_app`'s 0.2 to 0.3 s, and the suite
made about 800 of them, one per test that serves HTTP (a sixth of its wall time). Nothing in
that part refers to a container, so a test borrows an app built earlier and binds it to its
own container (`bind_app`); the app goes back when the test's lifespan has ended. An app still
serving (a server thread that would not stop) is never lent again."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from infra.bootstrap import Container
from interfaces.http.app import TildeLitestar, bind_app, build_app
from interfaces.http.hot_paths import HotPaths

_idle: list[TildeLitestar] = []
_lock = threading.Lock()


def borrow_app(
    container: Container, *, run_background: bool = True, hot_paths: bool = True
) -> TildeLitestar:
    """An app serving `container`, as `create_app(container, …)` returns it."""
    with _lock:
        app = _idle.pop() if _idle else None
    return bind_app(
        app or build_app(), container, run_background=run_background, hot_paths=hot_paths
    )


def give_back(app: TildeLitestar) -> None:
    """`app` may be lent again: its lifespan has ended (or never started). Its fast paths'
    blob writer process is stopped (requests served without a lifespan may have started it),
    and it lets go of the container."""
    if isinstance(app.inner, HotPaths):
        app.inner.close()
    del app.binding, app.inner
    app.state.container = None
    with _lock:
        _idle.append(app)


@contextlib.contextmanager
def lent_app(
    container: Container, *, run_background: bool = True, hot_paths: bool = True
) -> Iterator[TildeLitestar]:
    app = borrow_app(container, run_background=run_background, hot_paths=hot_paths)
    try:
        yield app
    finally:
        give_back(app)
