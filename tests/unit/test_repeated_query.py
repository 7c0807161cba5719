"""A repeated query parameter is a 400 before the guard decides, unless the route declares it."""

from __future__ import annotations

from typing import Any

from litestar import Litestar, get
from litestar.params import FromQuery
from litestar.testing import TestClient

from interfaces.http.auth import guard
from interfaces.http.errors import EXCEPTION_HANDLERS


@get("/tags", opt={"action": "GetHealth", "multi_valued": ("tag",)}, sync_to_thread=False)
def tags(tag: FromQuery[list[str]], name: FromQuery[str | None] = None) -> dict[str, Any]:
    return {"tag": tag, "name": name}


def client() -> TestClient[Any]:
    app = Litestar([tags], guards=[guard], exception_handlers=EXCEPTION_HANDLERS)  # type: ignore[arg-type]
    return TestClient(app)


def test_a_declared_multi_valued_parameter_may_repeat() -> None:
    with client() as c:
        response = c.get("/tags?tag=a&tag=b&name=x")
    assert response.status_code == 200, response.text
    assert response.json() == {"tag": ["a", "b"], "name": "x"}


def test_any_other_repeated_parameter_is_a_400_in_the_spec_error_body() -> None:
    with client() as c:
        for query in ("name=x&name=y", "name=x&name=", "name=x&name", "name=x&n%61me=y"):
            response = c.get(f"/tags?tag=a&{query}")
            assert response.status_code == 400, (query, response.text)
            body = response.json()
            assert set(body) == {"message", "code", "request_id"}, body
            assert body["code"] == "BAD_REQUEST"
            assert "'name' is given more than once" in body["message"]
