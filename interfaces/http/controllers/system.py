"""Health, Prometheus metrics and the OpenAPI document (no user authentication; `/metrics`
asks for a bearer token of its own when `TILDE_METRICS_TOKEN` is set)."""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Controller, Request, Response, get
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from domain.shared.errors import Unauthenticated
from interfaces.http.deps import ContainerDep

# How long `/health` reuses its projector report: probes may call it hundreds of times a
# second, and the report costs a query per view.
HEALTH_REPORT_SECONDS = 0.5


class SystemController(Controller):
    """`/health` and `/metrics`."""

    path = "/"
    include_in_schema = False

    @get("/health", opt={"action": "GetHealth"}, operation_id="health", sync_to_thread=True)
    def health(self, container: ContainerDep) -> Response[dict[str, Any]]:
        checks = container.health()
        if not all(v == "ok" for v in checks.values()):
            return Response({"status": "unavailable", "checks": checks}, status_code=503)
        # Serving works; whether views keep up is reported, not failed: a 503 here would pull
        # every API process out of the load balancer when the worker dies.
        projectors = container.projector_health(max_age=HEALTH_REPORT_SECONDS)
        checks["projectors"] = projectors["status"]
        return Response(
            {"status": projectors["status"], "checks": checks, "projectors": projectors},
            status_code=200,
        )

    @get("/metrics", opt={"action": "GetMetrics"}, operation_id="metrics", sync_to_thread=True)
    def metrics(self, container: ContainerDep, request: Request[Any, Any, Any]) -> Response[bytes]:
        required = container.settings.metrics_token
        if required:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            # Bytes, so a non-ASCII header is a mismatch rather than compare_digest's TypeError.
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                token.strip().encode("utf-8", "surrogateescape"), required.encode()
            ):
                raise Unauthenticated("/metrics requires the metrics bearer token")
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
