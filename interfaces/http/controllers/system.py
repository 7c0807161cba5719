"""Health, Prometheus metrics and the OpenAPI document (no authentication)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from interfaces.http.deps import ContainerDep


class SystemController(Controller):
    """`/health` and `/metrics`."""

    path = "/"
    include_in_schema = False

    @get("/health", opt={"action": "GetHealth"}, operation_id="health", sync_to_thread=True)
    def health(self, container: ContainerDep) -> Response[dict[str, Any]]:
        checks = container.health()
        ok = all(v == "ok" for v in checks.values())
        return Response(
            {"status": "ok" if ok else "unavailable", "checks": checks},
            status_code=200 if ok else 503,
        )

    @get("/metrics", opt={"action": "GetMetrics"}, operation_id="metrics", sync_to_thread=True)
    def metrics(self, container: ContainerDep) -> Response[bytes]:
        container.refresh_lag_metrics()
        return Response(generate_latest(container.metrics.registry), media_type=CONTENT_TYPE_LATEST)


class OpenAPIDocument(Controller):
    """`GET /api/v1/openapi.json`: the OpenAPI document this server generates."""

    path = "/api/v1"
    include_in_schema = False

    @get(
        "/openapi.json", opt={"action": "GetOpenAPI"}, operation_id="openapi", sync_to_thread=False
    )
    def document(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        return request.app.openapi_schema.to_schema()
