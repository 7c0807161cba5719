"""Timing, statistics and reporting helpers shared by the benchmarks under `bench/`.

Every benchmark measures the server's code path ("tilde") and a raw-driver baseline in the same
run and reports them side by side as `Row`s; `render_table` prints the Markdown table and
`write_json` keeps the numbers for later comparison.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


# -- statistics ------------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Summary:
    """Latency samples (seconds) reduced to the usual figures."""

    n: int
    p50: float
    p90: float
    p99: float
    mean: float
    max: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Summary:
        return cls(
            n=len(samples),
            p50=percentile(samples, 50),
            p90=percentile(samples, 90),
            p99=percentile(samples, 99),
            mean=sum(samples) / len(samples) if samples else math.nan,
            max=max(samples) if samples else math.nan,
        )

    def as_ms(self) -> dict[str, float]:
        return {
            "n": self.n,
            "p50_ms": self.p50 * 1e3,
            "p90_ms": self.p90 * 1e3,
            "p99_ms": self.p99 * 1e3,
            "mean_ms": self.mean * 1e3,
            "max_ms": self.max * 1e3,
        }


# -- timing ----------------------------------------------------------------------------------
class Stopwatch:
    """`with Stopwatch() as sw: ...` then `sw.seconds`."""

    def __enter__(self) -> Stopwatch:
        self.started = time.perf_counter()
        self.seconds = math.nan
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started


def interleaved_latencies(
    calls: dict[str, Callable[[], object]], n: int, *, warmup: int = 0
) -> dict[str, list[float]]:
    """Seconds per call, `n` samples each after `warmup`; the calls alternate so that slow
    phases of the machine hit all of them alike."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for i in range(warmup + n):
        for name, fn in calls.items():
            started = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - started
            if i >= warmup:
                samples[name].append(elapsed)
    return samples


@dataclass(frozen=True)
class Throughput:
    operations: int
    seconds: float
    threads: int
    errors: int = 0

    @property
    def per_second(self) -> float:
        return self.operations / self.seconds if self.seconds > 0 else math.nan


def run_threads(
    worker_factory: Callable[[int], Callable[[], Any]],
    *,
    threads: int,
    duration: float,
    teardown: Callable[[Callable[[], Any]], None] | None = None,
) -> Throughput:
    """Call a per-thread operation in a loop from `threads` threads for `duration` seconds.

    `worker_factory(i)` runs in thread i before the clock starts (open connections there) and
    returns the operation. Operations that raise are counted as errors, not as throughput.
    """
    barrier = threading.Barrier(threads + 1)
    stop = threading.Event()
    counts = [0] * threads
    errors = [0] * threads
    failures: list[BaseException] = []

    def body(i: int) -> None:
        try:
            operation = worker_factory(i)
        except BaseException as e:
            failures.append(e)
            barrier.abort()
            raise
        try:
            barrier.wait()
            while not stop.is_set():
                try:
                    operation()
                    counts[i] += 1
                except Exception:
                    errors[i] += 1
        finally:
            if teardown is not None:
                teardown(operation)

    workers = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(threads)]
    for w in workers:
        w.start()
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        raise RuntimeError(f"a worker failed to start: {failures[:1]}") from None
    started = time.perf_counter()
    time.sleep(duration)
    stop.set()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    return Throughput(sum(counts), elapsed, threads, sum(errors))


def interleaved(runs: dict[str, Callable[[int], Any]], rounds: int) -> dict[str, list[Any]]:
    """Each of `runs` called `rounds` times (with the round's number), the contenders taking
    turns and the first of each round alternating: a shared machine's drift (here ±10-20 %
    over a minute) then weighs on each alike, where one window each would compare a fast
    minute with a slow one."""
    names = list(runs)
    out: dict[str, list[Any]] = {name: [] for name in names}
    for i in range(rounds):
        for name in names if i % 2 == 0 else names[::-1]:
            out[name].append(runs[name](i))
    return out


def median_round(rates: Sequence[Throughput]) -> Throughput:
    """The round whose rate is the median (the lower middle one of an even count)."""
    ordered = sorted(rates, key=lambda t: t.per_second)
    return ordered[(len(ordered) - 1) // 2]


# -- reporting -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """A goal from ARCHITECTURE.md §8: `value op target` must hold."""

    op: str  # "<=" or ">="
    value: float
    text: str
    # Also required of a rate: tilde ÷ baseline (the same run's) at least this share.
    share: float | None = None

    def met(self, measured: float) -> bool:
        if math.isnan(measured):
            return False
        return measured <= self.value if self.op == "<=" else measured >= self.value


@dataclass
class Row:
    """One measured metric beside its baseline."""

    metric: str
    unit: str  # "ms" (lower is better) or "/s" (higher is better)
    tilde: float
    baseline: float
    target: Target | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """tilde ÷ baseline (latency: how many times slower; rate: fraction of raw speed)."""
        if not self.baseline or math.isnan(self.baseline):
            return math.nan
        return self.tilde / self.baseline

    @property
    def status(self) -> str:
        if self.target is None:
            return ""
        share = self.target.share
        if share is not None and not (self.ratio >= share):  # NaN ratio: a miss
            return "MISS"
        return "PASS" if self.target.met(self.tilde) else "MISS"

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "unit": self.unit,
            "tilde": self.tilde,
            "baseline": self.baseline,
            "ratio": self.ratio,
            "target": asdict(self.target) if self.target else None,
            "status": self.status or None,
            "detail": self.detail,
        }


def ms(seconds: float) -> float:
    return seconds * 1e3


def log(message: str) -> None:
    """Progress on stderr (stdout carries the table)."""
    print(f"… {message}", file=sys.stderr, flush=True)


def fmt(value: float, unit: str) -> str:
    if math.isnan(value):
        return "n/a"
    if unit == "ms":
        if value < 1:
            return f"{value:.3f} ms"
        return f"{value:.2f} ms" if value < 100 else f"{value:,.0f} ms"
    return f"{value:,.0f}{unit}"


def render_table(rows: Sequence[Row], baseline_label: str) -> str:
    """A Markdown table: metric | tilde | baseline | ratio | target."""
    header = ["metric", "tilde", f"baseline ({baseline_label})", "ratio", "target"]
    body = []
    for r in rows:
        target = f"{r.target.text} {r.status}" if r.target else "—"
        ratio = "n/a" if math.isnan(r.ratio) else f"{r.ratio:.2f}x"
        body.append([r.metric, fmt(r.tilde, r.unit), fmt(r.baseline, r.unit), ratio, target])
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    separator = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), separator, *(line(b) for b in body)])


def load_average() -> float:
    """The 1-minute load average (other work on the machine skews every number)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return math.nan


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "when": datetime.now(tz=UTC).isoformat(timespec="seconds"),
    }


def write_json(path: Path, payload: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")
    return path
