"""Metric 5: read-your-writes with the background projectors running, beside a raw insert
observed by another connection."""

from __future__ import annotations

import time

from bench.common import Row, Summary, ms
from bench.identity.baseline import Baseline
from bench.identity.config import RYW_P50, RYW_P99, Config
from bench.identity.server import Tilde


def measure_read_your_writes(tilde: Tilde, base: Baseline, cfg: Config) -> list[Row]:
    container = tilde.container
    writer = base.writer()
    samples: dict[str, list[float]] = {"total": [], "wait": [], "base_total": [], "base_wait": []}
    container.start_background()
    try:
        with base.commit_watcher() as next_arrival:
            time.sleep(0.2)  # let projectors take their locks and settle
            for i in range(cfg.warmup + cfg.ryw_samples):
                keep = i >= cfg.warmup
                started = time.perf_counter()
                result = tilde.create_key()
                written = time.perf_counter()
                if not container.wait_for(result.written, timeout=5):
                    raise RuntimeError("read-your-writes wait timed out")
                done = time.perf_counter()
                if keep:
                    samples["total"].append(done - started)
                    samples["wait"].append(done - written)
                time.sleep(cfg.ryw_gap)

                started = time.perf_counter()
                writer.insert()
                committed = time.perf_counter()
                arrived = next_arrival()
                if keep:
                    samples["base_total"].append(max(arrived, committed) - started)
                    samples["base_wait"].append(max(0.0, arrived - committed))
                time.sleep(cfg.ryw_gap)
    finally:
        container.stop_background()
        writer.close()
    s = {name: Summary.of(values) for name, values in samples.items()}
    detail = {name: summary.as_ms() for name, summary in s.items()}
    return [
        Row("read-your-writes total p50", "ms", ms(s["total"].p50), ms(s["base_total"].p50),
            RYW_P50, detail),
        Row("read-your-writes total p99", "ms", ms(s["total"].p99), ms(s["base_total"].p99),
            RYW_P99, detail),
        Row("read-your-writes wait p50", "ms", ms(s["wait"].p50), ms(s["base_wait"].p50),
            RYW_P50, detail),
        Row("read-your-writes wait p99", "ms", ms(s["wait"].p99), ms(s["base_wait"].p99),
            RYW_P99, detail),
    ]  # fmt: skip
