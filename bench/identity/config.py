"""The benchmark's sizes and targets, the baseline's table names and the event it writes."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass

from bench.common import Target

# ARCHITECTURE.md §8, "read-your-writes" row.
RYW_P50 = Target("<=", 5.0, "p50 ≤ 5 ms")
RYW_P99 = Target("<=", 20.0, "p99 ≤ 20 ms")
REBUILD = Target(">=", 20_000, "≥ 20,000 events/s")

BASELINE_TABLE = "bench_events"
BASELINE_VIEW = "bench_view"
BASELINE_TRACKING = "bench_tracking"
FOLD_BATCH = 500  # rows per baseline projector transaction (the runner's default batch size)


@dataclass(frozen=True)
class Config:
    latency_samples: int
    warmup: int
    threads: int
    duration: float
    events: int
    ryw_samples: int
    ryw_gap: float  # idle seconds between read-your-writes samples (requests arrive apart)

    @classmethod
    def full(cls) -> Config:
        return cls(1000, 50, 8, 10.0, 20_000, 1000, 0.005)

    @classmethod
    def quick(cls) -> Config:
        return cls(200, 20, 8, 3.0, 4_000, 200, 0.005)


def api_key_payload() -> bytes:
    """A JSON document shaped and sized like a stored `ApiKey.Created` (~425 bytes)."""
    owner = str(uuid.uuid4())
    return json.dumps(
        {
            "timestamp": {
                "_type_": "datetime_iso",
                "_data_": dt.datetime.now(dt.UTC).isoformat(),
            },
            "originator_topic": "domain.identity.api_key:ApiKey",
            "owner_type": "user",
            "owner_id": owner,
            "organization_id": "",
            "name": "bench",
            "description": "",
            "secret_hash": hashlib.sha256(secrets.token_bytes(32)).hexdigest(),
            "token_hint": secrets.token_urlsafe(3),
            "actor_type": "user",
            "actor_id": owner,
        },
        separators=(",", ":"),
    ).encode()


PAYLOAD_TOPIC = "domain.identity.api_key:ApiKey.Created"
