"""Metrics 1 and 2: `create_api_key` latency, and commands/s from several threads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

from bench.common import Row, Summary, interleaved_latencies, ms, run_threads
from bench.identity.baseline import Baseline, Writer
from bench.identity.config import Config
from bench.identity.server import Tilde


def measure_single_command(tilde: Tilde, base: Baseline, cfg: Config) -> list[Row]:
    writer = base.writer()
    try:
        samples = interleaved_latencies(
            {"tilde": tilde.create_key, "base": writer.insert},
            cfg.latency_samples,
            warmup=cfg.warmup,
        )
    finally:
        writer.close()
    t, b = Summary.of(samples["tilde"]), Summary.of(samples["base"])
    detail = {"tilde": t.as_ms(), "baseline": b.as_ms()}
    return [
        Row("create_api_key latency p50", "ms", ms(t.p50), ms(b.p50), detail=detail),
        Row("create_api_key latency p99", "ms", ms(t.p99), ms(b.p99), detail=detail),
    ]


def measure_commands_per_second(tilde: Tilde, base: Baseline, cfg: Config) -> list[Row]:
    t = run_threads(lambda _i: tilde.create_key, threads=cfg.threads, duration=cfg.duration)
    writers: list[Writer] = []

    def open_writer(_i: int) -> Callable[[], int]:
        w = base.writer()
        writers.append(w)
        return w.insert

    try:
        b = run_threads(open_writer, threads=cfg.threads, duration=cfg.duration)
    finally:
        for w in writers:
            w.close()
    return [
        Row(
            f"create_api_key commands/s ({cfg.threads} threads)",
            "/s",
            t.per_second,
            b.per_second,
            detail={"tilde": asdict(t), "baseline": asdict(b)},
        )
    ]
