"""Dependencies handlers receive by name: the container, the principal, the client address."""

from __future__ import annotations

from typing import Any, TypeVar

from litestar import Request
from litestar.di import NamedDependency, Provide

from application.authz import OrgSnapshot
from application.base import Result
from application.principal import Principal
from domain.shared.errors import NotFound, Unauthenticated
from infra.bootstrap import Container
from interfaces.http.context import client_ip
from interfaces.http.resources import RESOURCE_DEPENDENCIES

T = TypeVar("T")


def provide_container(request: Request[Any, Any, Any]) -> Container:
    return request.app.state.container  # type: ignore[no-any-return]


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    principal = request.state.get("principal")
    if principal is None:
        raise Unauthenticated("authentication required")
    return principal  # type: ignore[no-any-return]


def provide_ip(request: Request[Any, Any, Any]) -> str:
    container: Container = request.app.state.container
    return client_ip(request.scope, trust_forwarded_for=container.settings.trust_forwarded_for)


DEPENDENCIES = {
    "container": Provide(provide_container, sync_to_thread=False),
    "principal": Provide(provide_principal, sync_to_thread=False),
    "ip": Provide(provide_ip, sync_to_thread=False),
}


def settled(container: Container, result: Result[T]) -> T:
    """Read-your-writes: wait for the views the result's events feed, then hand back its value."""
    container.wait_for(result.written)
    return result.value


# Explicit dependency markers (Litestar 3 stops inferring them from names).
ContainerDep = NamedDependency[Container]
PrincipalDep = NamedDependency[Principal]
ClientIP = NamedDependency[str]


def provide_org(request: Request[Any, Any, Any]) -> OrgSnapshot:
    snap = request.state.get("org")
    if snap is None:
        raise NotFound("organization not found")
    return snap  # type: ignore[no-any-return]


OrgDep = NamedDependency[OrgSnapshot]
DEPENDENCIES["org"] = Provide(provide_org, sync_to_thread=False)
DEPENDENCIES.update(RESOURCE_DEPENDENCIES)  # the object path the guard authorized


def require_named(
    container: Container,
    principal: Principal,
    org: OrgSnapshot,
    action: str,
    attribute: str,
    name: str,
) -> None:
    """The exact check of a create action whose name arrives in the body."""
    container.authorizer.authorize(principal, org.org_id, action, {attribute: name})
