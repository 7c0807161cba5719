"""The spec's `Error` body and the documented responses a route adds to its success."""

from __future__ import annotations

from typing import Any

from litestar.openapi.datastructures import ResponseSpec

from interfaces.http.schemas.base import Out

DESCRIPTIONS = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    410: "Gone",
    411: "Length required",
    413: "Payload too large",
    415: "Unsupported media type",
    416: "Range not satisfiable",
    429: "Too many requests",
    500: "Internal error",
    501: "Not implemented",
    502: "Bad gateway",
    503: "Service unavailable",
}


class Error(Out):
    """Every 4xx/5xx body: `{"message","code","request_id"}` (interfaces/http/errors.py)."""

    message: str
    code: str
    request_id: str


def errors(*statuses: int) -> dict[int, ResponseSpec]:
    """Error responses a route answers besides those every route of its scope shares."""
    return {
        status: ResponseSpec(
            data_container=Error, description=DESCRIPTIONS[status], generate_examples=False
        )
        for status in statuses
    }


def no_body(status: int, description: str) -> dict[int, ResponseSpec]:
    """A response without content (204, a redirect, a HEAD answer)."""
    return {status: ResponseSpec(data_container=None, description=description)}


def returns(status: int, model: Any, description: str) -> dict[int, ResponseSpec]:
    """A success response with its own JSON body (the 202 of a commit awaiting approval)."""
    return {status: ResponseSpec(data_container=model, description=description)}
