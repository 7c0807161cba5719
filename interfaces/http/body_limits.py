"""A nesting bound on JSON request bodies, checked before the decoder recurses into them."""

from __future__ import annotations

import re
from itertools import accumulate
from typing import Any

from litestar import Request

from domain.shared.errors import Invalid

# Deeper than any body in the spec needs; msgspec recurses once per level (RecursionError: 500).
MAX_JSON_DEPTH = 64
# A JSON string, escapes included (unrolled, so matching stays linear).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
# Opening brackets become +1 and closing ones -1 (as signed bytes); everything else goes.
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
# JSON's only spelling of NUL: `\u0000` whose backslash is not itself escaped (linear: a run
# of backslashes is entered only at its start). A form body (the console's) spells it %00.
FORM = "application/x-www-form-urlencoded"
_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)


def too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Do `body`'s arrays and objects nest deeper than `limit`?"""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # the common case: the body scanned twice in C
    steps = _STRING.sub(b"", body).translate(_STEPS, _NOT_BRACKET)
    # The deepest point is the largest running sum (C-speed: ~30 ms for a MiB of brackets).
    return max(accumulate(memoryview(steps).cast("b")), default=0) > limit


async def check_json_body(request: Request[Any, Any, Any]) -> None:
    """`before_request`: read a JSON route's body (the route's size cap answers 413) and
    refuse it if it nests too deep, so the decoder never recurses past the bound, or if it
    carries a NUL character (PostgreSQL text cannot store one: it would surface as a 500)."""
    if "data" not in request.route_handler.parsed_fn_signature.parameters:
        return
    body = await request.body()
    if too_deep(body):
        raise Invalid(
            f"request body is not valid JSON or nests deeper than {MAX_JSON_DEPTH} levels"
        )
    form = request.headers.get("content-type", "").startswith(FORM)
    if (b"%00" in body) if form else bool(_NUL.search(body)):
        raise Invalid("NUL characters are not allowed in the request body")
