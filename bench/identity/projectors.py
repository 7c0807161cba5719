"""Metrics 3 and 4: projector catch-up over freshly appended events, and a rebuild of every view
over the whole log; each checks the api_keys view it leaves."""

from __future__ import annotations

from bench.common import Row, Stopwatch
from bench.identity.baseline import Baseline
from bench.identity.config import REBUILD, Config
from bench.identity.server import Tilde


def _rate(events: int, seconds: float) -> float:
    return events / seconds if seconds > 0 else float("nan")


def measure_catch_up(tilde: Tilde, base: Baseline, cfg: Config) -> tuple[list[Row], dict]:
    projections = tilde.container.projections
    projections.catch_up()  # fold what earlier phases wrote: start from a caught-up state
    before = tilde.head()
    with Stopwatch() as append:
        appended = tilde.append_used_keys(cfg.events)
    head = tilde.head()
    with Stopwatch() as sw:
        projections.catch_up()
    catch_up_rows, catch_up_digest = tilde.api_keys_fingerprint()

    base.reset_view(before)
    with Stopwatch() as bw:
        folded = base.fold(before, head)
    assert folded == head - before, (folded, head - before)
    events = head - before
    detail = {
        "events": events,
        "tilde_seconds": sw.seconds,
        "baseline_seconds": bw.seconds,
        "append_events_per_second": _rate(appended, append.seconds),
        "views": sorted(projections.runners),
    }
    row = Row(
        f"projector catch-up events/s ({events:,} events)",
        "/s",
        _rate(events, sw.seconds),
        _rate(events, bw.seconds),
        detail=detail,
    )
    checks = {
        "api_keys_rows_after_catch_up": catch_up_rows,
        "api_keys_expected": tilde.keys,
        "catch_up_digest": catch_up_digest,
    }
    return [row], checks


def measure_rebuild(tilde: Tilde, base: Baseline, cfg: Config) -> tuple[list[Row], dict]:
    head = tilde.head()
    with Stopwatch() as sw:
        report = tilde.container.projections.rebuild([])
    rebuilt_rows, rebuilt_digest = tilde.api_keys_fingerprint()
    with Stopwatch() as bw:
        base.reset_view(0)
        folded = base.fold(0, head)
    assert folded == head, (folded, head)
    row = Row(
        f"rebuild events/s ({head:,} events)",
        "/s",
        _rate(head, sw.seconds),
        _rate(head, bw.seconds),
        target=REBUILD,
        detail={
            "events": head,
            "tilde_seconds": sw.seconds,
            "baseline_seconds": bw.seconds,
            "other_application_events": tilde.other_logs(),
            "views": report,
        },
    )
    return [row], {"api_keys_rows_after_rebuild": rebuilt_rows, "rebuild_digest": rebuilt_digest}
