"""Whether every projector (and the outbox sender) has a live owner and keeps up with the log."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra.metrics import Metrics
from infra.projections.locks import InstanceLock
from infra.projections.manager import ProjectionManager


def projector_health(
    manager: ProjectionManager,
    others: Mapping[str, InstanceLock],
    max_lag: int,
    metrics: Metrics,
) -> dict[str, Any]:
    """`{"status": "ok"|"degraded", "unowned": [...], "lagging": {...}}`: degraded when a
    projector (or another single-instance loop in `others`) runs nowhere — no worker alive —
    or a view lags the log by more than `max_lag` events. Sets the matching gauges."""
    locks = {name: runner.lock for name, runner in manager.runners.items()} | dict(others)
    unowned = []
    for name, lock in locks.items():
        owned = lock.has_owner()
        metrics.projector_owned.labels(name).set(1 if owned else 0)
        if not owned:
            unowned.append(name)
    lagging = {}
    for row in manager.status():
        if row["lag"] > max_lag:
            lagging[f"{row['projection']}/{row['application']}"] = row["lag"]
    degraded = bool(unowned or lagging)
    metrics.degraded.set(1 if degraded else 0)
    return {
        "status": "degraded" if degraded else "ok",
        "unowned": sorted(unowned),
        "lagging": lagging,
        "max_lag_events": max_lag,
    }
