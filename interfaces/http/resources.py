"""The object path a request names: one parse, shared by the guard and the handlers."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency, Provide
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromQuery

from domain.catalog.paths import check_path, check_prefix
from domain.shared.errors import Invalid

# Route options (`handler.opt`) saying where a path-scoped route's resource is.
RESOURCE_PATH = "resource_path"  # the query parameter holding the object path it acts on
RESOURCE_PREFIX = "resource_prefix"  # the query parameter holding a listing prefix
ALSO_READS = "also_reads"  # a query parameter naming an object the route also reads (copy)
BODY_RESOURCE = "body_resource"  # an attribute that arrives in the body (the handler checks it)
MULTI_VALUED = "multi_valued"  # query parameters the route accepts more than once


def refuse_repeated_query(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """`Invalid` when a query parameter is given twice and the route did not declare it
    multi-valued: with two values, two readers of one request may each pick another one."""
    allowed = handler.opt.get(MULTI_VALUED, ())
    seen: set[str] = set()
    raw = connection.scope.get("query_string", b"").decode("latin-1")
    # Blank values count too: Litestar drops them, a policy check must not depend on that.
    for name, _ in parse_qsl(raw, keep_blank_values=True, separator="&", errors="replace"):
        if name in seen and name not in allowed:
            raise Invalid(f"query parameter '{name[:64]}' is given more than once")
        seen.add(name)


def refuse_nul_characters(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """`Invalid` when the path or the query holds a NUL character: no name, path or id needs
    one, and PostgreSQL text cannot store one (it would surface as a 500)."""
    raw = connection.scope.get("query_string", b"").decode("latin-1")
    if "\x00" in connection.scope.get("path", "") or "\x00" in unquote(raw):
        raise Invalid("NUL characters are not allowed in the path or the query")


def declared_path(handler: BaseRouteHandler) -> str | None:
    """The query parameter that names the route's object path or prefix, if it declares one."""
    name = handler.opt.get(RESOURCE_PATH) or handler.opt.get(RESOURCE_PREFIX)
    return str(name) if name else None


def object_values(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> dict[str, str]:
    """The validated values of the path parameters the route declares (name → value). An
    absent prefix is "" — the whole repository — so only a grant covering "" allows it."""
    query, opt, found = connection.query_params, handler.opt, {}
    for key in (RESOURCE_PATH, ALSO_READS):
        if name := opt.get(key):
            found[name] = check_path(query.get(name), name)
    if name := opt.get(RESOURCE_PREFIX):
        found[name] = check_prefix(query.get(name))
    return found


def _parked(request: Request[Any, Any, Any], name: str) -> str:
    values = request.state.get("object_values") or {}
    if name not in values:
        raise RuntimeError(f"the route does not declare query parameter '{name}' as its resource")
    return str(values[name])


# Each provider also declares its query parameter, so the API document still lists it; the
# value handed to the handler is the one the guard validated and authorized.
def provide_object_path(request: Request[Any, Any, Any], path: FromQuery[str | None] = None) -> str:
    return _parked(request, "path")


def provide_object_prefix(
    request: Request[Any, Any, Any], prefix: FromQuery[str | None] = None
) -> str:
    return _parked(request, "prefix")


def provide_copy_source(
    request: Request[Any, Any, Any], source_path: FromQuery[str | None] = None
) -> str:
    return _parked(request, "source_path")


def provide_copy_destination(
    request: Request[Any, Any, Any], destination_path: FromQuery[str | None] = None
) -> str:
    return _parked(request, "destination_path")


ObjectPath = NamedDependency[str]
ObjectPrefix = NamedDependency[str]
CopySource = NamedDependency[str]
CopyDestination = NamedDependency[str]
RESOURCE_DEPENDENCIES = {
    "object_path": Provide(provide_object_path, sync_to_thread=False),
    "object_prefix": Provide(provide_object_prefix, sync_to_thread=False),
    "copy_source": Provide(provide_copy_source, sync_to_thread=False),
    "copy_destination": Provide(provide_copy_destination, sync_to_thread=False),
}
