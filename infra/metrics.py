"""Prometheus metrics of one server instance (own registry, so tests can build many)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """Request counts and latencies, events appended, projector positions, lag and owners."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tilde_http_requests_total",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tilde_http_request_duration_seconds",
            "HTTP request latency by route and status",
            ["route", "method", "status"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.events_appended = Counter(
            "tilde_events_appended_total",
            "Events appended to the event store",
            ["application"],
            registry=self.registry,
        )
        self.events_projected = Counter(
            "tilde_projector_events_total",
            "Events folded into read models",
            ["projection", "application"],
            registry=self.registry,
        )
        self.projector_lag = Gauge(
            "tilde_projector_lag_events",
            "Events in the log not yet reflected in a view",
            ["projection", "application"],
            registry=self.registry,
        )
        self.projector_position = Gauge(
            "tilde_projector_position",
            "Last notification id folded into a view",
            ["projection", "application"],
            registry=self.registry,
        )
        self.projector_owned = Gauge(
            "tilde_projector_owned",
            "1 when some live process holds the projector's (or loop's) instance lock, else 0",
            ["projection"],
            registry=self.registry,
        )
        self.degraded = Gauge(
            "tilde_degraded",
            "1 when a projector has no live owner or lags beyond TILDE_HEALTH_MAX_LAG_EVENTS",
            registry=self.registry,
        )
        self.process_failures = Gauge(
            "tilde_process_failures",
            "Process-manager jobs that failed and are not done (retrying or parked)",
            ["process"],
            registry=self.registry,
        )
        self.emails_sent = Counter(
            "tilde_emails_sent_total", "Emails delivered by the outbox", registry=self.registry
        )
