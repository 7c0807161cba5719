"""The two Litestar internals `interfaces/http/litestar_tuning.py` replaces behave as before:
independent dependencies resolve in order into the same kwargs (generator dependencies still
cleaned up, the first error still the answer), and sync handlers still run in a worker thread
with the caller's context."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from typing import Any

import litestar.utils.sync
from litestar import Litestar, get
from litestar.di import Provide
from litestar.testing import TestClient

from interfaces.http import litestar_tuning

TAG: contextvars.ContextVar[str] = contextvars.ContextVar("tag", default="unset")
cleaned: list[str] = []


def provide_a() -> str:
    return "a"


def provide_b() -> str:
    return "b"


def provide_g() -> Iterator[str]:
    yield "g"
    cleaned.append("g")


def provide_broken() -> str:
    raise ValueError("broken dependency")


@get("/deps", sync_to_thread=False)
def deps(a: str, b: str, g: str) -> dict[str, str]:
    return {"a": a, "b": b, "g": g}


@get("/broken", sync_to_thread=False)
def broken(a: str, broken: str) -> str:
    return broken


@get("/thread", sync_to_thread=True)
def in_thread() -> dict[str, Any]:
    return {"main": threading.current_thread() is threading.main_thread(), "tag": TAG.get()}


async def tag(request: Any) -> None:
    TAG.set("from-the-request")


def test_handlers_behave_as_before() -> None:
    litestar_tuning.install()
    litestar_tuning.install()  # idempotent
    assert litestar.utils.sync.sync_to_thread is litestar_tuning._to_thread
    app = Litestar(
        route_handlers=[deps, broken, in_thread],
        dependencies={
            "a": Provide(provide_a, sync_to_thread=False),
            "b": Provide(provide_b, sync_to_thread=False),
            "g": Provide(provide_g, sync_to_thread=False),
            "broken": Provide(provide_broken, sync_to_thread=False),
        },
        before_request=tag,
        debug=False,
    )
    with TestClient(app) as client:
        assert client.get("/deps").json() == {"a": "a", "b": "b", "g": "g"}
        assert cleaned == ["g"]
        assert client.get("/broken").status_code == 500
        assert client.get("/thread").json() == {"main": False, "tag": "from-the-request"}
