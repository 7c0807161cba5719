"""Authorization decisions: a warm decision beside a plain dict lookup, an uncached decision,
a cold one (after cache invalidation), and the whole guard path of a GET request.

    python3 -m bench.authz [--quick] [--backend sqlite|postgres] [--calls N]

The organization is built through the server's own commands (`infra.bootstrap.bootstrap`):
50 policies (the 3 built-ins + 47 with resource-constrained, allow and deny lines), 20 groups
nested 3 deep (4 top groups ⊃ 8 middle groups ⊃ 8 leaf groups), and a member who is in every
leaf group and has the built-ins plus 7 policies attached directly — so their effective
policies come from 20 groups and number in the dozens.

What is measured (tilde, then its baseline):

- warm decision p50/p99: `container.authorizer.authorize(member, org, "GetObject", resource)`
  with the snapshot cached and the decision memoized (`OrgSnapshot.allows`), `--calls` times
  (100,000); baseline: `dict.get` of the same memo key.
- uncached decision: the same call with the snapshot cached but a new resource (object path)
  every call, so the statements are evaluated; baseline: the warm decision.
- cold decision: the first call after the authorization views "advanced"
  (`Generation.bump`): the snapshot is reloaded from the read models, then the decision made;
  baseline: the warm decision.
- guard path: `GET /api/v1/organizations/{org}` in-process through Litestar's `TestClient`
  with `Authorization: Bearer tuk-…` (authenticate the key, authorize `GetOrganization`, one
  read-model query); baseline: `GET /api/v1/auth/oauth/providers` (public, no
  authentication, a static answer) through the same client, calls alternating.

Every call is timed on its own with `time.perf_counter_ns` (the timer's own cost, ~0.1 µs, is
in every figure, baselines included). Results: a table on stdout and
bench/results/authz-<backend>.json. Exits 1 if the decisions are not what the policies say.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import (
    RESULTS_DIR,
    Row,
    Summary,
    Target,
    load_average,
    machine,
    write_json,
)
from infra.logging import configure_logging

warnings.filterwarnings("ignore", category=DeprecationWarning)

WARM_P50 = Target("<=", 50.0, "p50 ≤ 50 µs")
ACTION = "GetObject"
RESOURCE = {"repository": "data-7", "path": "raw/2024/01/a.csv"}


@dataclass(frozen=True)
class Config:
    calls: int
    uncached: int
    cold: int
    requests: int

    @classmethod
    def full(cls, calls: int) -> Config:
        return cls(calls, 10_000, 300, 2_000)

    @classmethod
    def quick(cls, calls: int) -> Config:
        return cls(calls, 2_000, 60, 300)


# -- the organization ------------------------------------------------------------------------
def policy_text(i: int) -> str:
    return (
        f"# policy {i}\n"
        f'GetObject(repository="data-{i % 10}*", path="raw/*")\n'
        f'ListObjects(repository="data-{i % 10}*")\n'
        f'PutObject(repository="data-{i % 10}*", path="staging/{i}/*")\n'
        f'deny DeleteObject(repository="prod-{i}")\n'
        f'deny GetObject(repository="data-{i % 10}*", path="raw/secret/*")\n'
        f'GetGroup(group="g-{i % 20}")\n'
    )


@dataclass
class Org:
    name: str
    member: Any  # application.principal.Principal
    member_token: str
    groups: int
    policies: int
    effective_groups: int
    effective_policies: int
    statements: int


def build_org(container: Any) -> Org:
    from application.principal import Principal
    from domain.shared.values import Actor

    written: list[Any] = []

    def done(result: Any) -> Any:
        written.extend(result.written)
        return result.value

    identity, orgs = container.identity, container.organizations
    people = {}
    for who in ("owner", "member"):
        username = f"bench-{who}"
        user = identity.signup(
            username=username,
            email=f"{username}@example.com",
            full_name=who.title(),
            password="correct-horse-battery",
        ).value
        identity.approve(username, Actor.operator())
        people[who] = Principal("user", str(user.id), username, "bearer")
    owner, member = people["owner"], people["member"]
    key = identity.create_api_key(
        owner_type="user", owner_id=member.id, name="bench", actor=member.actor
    )
    token = done(key)[1]
    name = "bench-org"
    done(orgs.create_organization(name=name, display_name="Bench", principal=owner))
    container.wait_for(written)
    done(orgs.add_member(name, member.name, owner))

    def group(label: str) -> str:
        return str(done(orgs.create_group(name, name=label, description="", principal=owner)).id)

    def nest(parent: str, kind: str, child: str) -> None:
        done(
            orgs.add_group_member(
                name, parent, subject_type=kind, subject_id=child, principal=owner
            )
        )

    tops = [group(f"g-{i}") for i in range(4)]
    mids = [group(f"g-{4 + i}") for i in range(8)]
    leaves = [group(f"g-{12 + i}") for i in range(8)]
    for i, mid in enumerate(mids):
        nest(tops[i // 2], "group", mid)
        nest(mid, "group", leaves[i])
    for leaf in leaves:
        nest(leaf, "user", member.id)
    all_groups = tops + mids + leaves
    for i in range(47):
        policy = done(
            orgs.create_policy(name, name=f"p-{i:02}", policy_text=policy_text(i), principal=owner)
        )
        target = ("user", member.id) if i < 7 else ("group", all_groups[i % 20])
        done(
            orgs.attach_policy(
                name,
                str(policy.id),
                principal_type=target[0],
                principal_id=target[1],
                principal=owner,
            )
        )
    container.wait_for(written, timeout=120)
    snap = container.authorizer.snapshot(name)
    return Org(
        name=name,
        member=member,
        member_token=token,
        groups=len(snap.groups),
        policies=len(snap.policies),
        effective_groups=len(snap.effective_groups("user", member.id)),
        effective_policies=len(snap.effective_policies("user", member.id)),
        statements=len(snap.statements("user", member.id)),
    )


# -- measuring -------------------------------------------------------------------------------
def timed(fn: Callable[[], object], n: int) -> list[float]:
    """Microseconds per call, one timer pair per call."""
    clock = time.perf_counter_ns
    out = [0.0] * n
    for i in range(n):
        started = clock()
        fn()
        out[i] = (clock() - started) / 1000.0
    return out


def row(metric: str, tilde: Sequence[float], base: Sequence[float], q: float, **kw: Any) -> Row:
    mine, theirs = Summary.of(tilde), Summary.of(base)
    pick = (lambda s: s.p50) if q == 50 else (lambda s: s.p99)
    return Row(
        metric,
        "µs",
        pick(mine),
        pick(theirs),
        detail={"tilde": vars(mine), "baseline": vars(theirs)},
        **kw,
    )


def measure(container: Any, org: Org, cfg: Config, log: Callable[[str], None]) -> list[Row]:
    from litestar.testing import TestClient

    from interfaces.http.app import create_app

    authorizer, member = container.authorizer, org.member
    watch = authorizer.watch

    def warm() -> object:
        return authorizer.authorize(member, org.name, ACTION, RESOURCE)

    warm()
    memo_key = ("user", member.id, ACTION, tuple(sorted(RESOURCE.items())), frozenset())
    table = {memo_key: True}
    log(f"warm decisions and dict lookups: {cfg.calls:,} each…")
    warm_us = timed(warm, cfg.calls)
    dict_us = timed(lambda: table.get(memo_key), cfg.calls)

    log(f"uncached decisions: {cfg.uncached:,}…")
    paths = iter([{"repository": "data-7", "path": f"raw/n/{i}.csv"} for i in range(cfg.uncached)])
    uncached_us = timed(
        lambda: authorizer.authorize(member, org.name, ACTION, next(paths)), cfg.uncached
    )

    log(f"cold decisions: {cfg.cold}…")
    cold_us = []
    for _ in range(cfg.cold):
        watch.moved("organizations")  # what an organizations write does
        cold_us += timed(warm, 1)

    log(f"guard path: {cfg.requests:,} requests each…")
    app = create_app(container, run_background=False)
    headers = {"Authorization": f"Bearer {org.member_token}"}
    with TestClient(app, base_url="http://bench.local") as client:

        def guarded() -> None:
            response = client.get(f"/api/v1/organizations/{org.name}", headers=headers)
            assert response.status_code == 200, response.text

        def public() -> None:
            assert client.get("/api/v1/auth/oauth/providers").status_code == 200

        for _ in range(50):
            guarded()
            public()
        guard_us, public_us = [], []
        for _ in range(cfg.requests):  # alternate, so slow phases hit both alike
            guard_us += timed(guarded, 1)
            public_us += timed(public, 1)

    return [
        row("warm decision p50", warm_us, dict_us, 50, target=WARM_P50),
        row("warm decision p99", warm_us, dict_us, 99),
        row("uncached decision p50 (vs warm)", uncached_us, warm_us, 50),
        row("uncached decision p99 (vs warm)", uncached_us, warm_us, 99),
        row("cold decision p50 (vs warm)", cold_us, warm_us, 50),
        row("cold decision p99 (vs warm)", cold_us, warm_us, 99),
        row("guard path GET p50 (vs public GET)", guard_us, public_us, 50),
        row("guard path GET p99 (vs public GET)", guard_us, public_us, 99),
    ]


def correctness(container: Any, org: Org) -> dict[str, bool]:
    """The decisions the benchmark times are the ones the policies imply."""
    may = container.authorizer.may
    member = org.member
    return {
        "allows_raw_read": may(member, org.name, ACTION, RESOURCE),
        "denies_secret_read": not may(
            member, org.name, ACTION, {"repository": "data-7", "path": "raw/secret/x"}
        ),
        # Member allows every DeleteObject; a directly attached policy denies prod-3.
        "deny_beats_member_allow": not may(
            member, org.name, "DeleteObject", {"repository": "prod-3", "path": "x"}
        ),
        "member_allow_elsewhere": may(
            member, org.name, "DeleteObject", {"repository": "prod-x", "path": "x"}
        ),
        "denies_removing_members": not may(member, org.name, "RemoveMember"),
        "shape_20_groups_50_policies": (org.groups, org.policies, org.effective_groups)
        == (20, 50, 20),
    }


# -- reporting -------------------------------------------------------------------------------
def fmt_us(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if value < 10:
        return f"{value:.2f} µs"
    return f"{value:,.1f} µs" if value < 1000 else f"{value / 1000:,.2f} ms"


def render(rows: Sequence[Row]) -> str:
    """bench.common's table layout, with microsecond figures (its formatter rounds µs to
    whole units, which would print the dict baseline as 0)."""
    header = ["metric", "tilde", "baseline", "ratio", "target"]
    body = [
        [
            r.metric,
            fmt_us(r.tilde),
            fmt_us(r.baseline),
            "n/a" if math.isnan(r.ratio) else f"{r.ratio:,.1f}x",
            f"{r.target.text} {r.status}" if r.target else "—",
        ]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join(
        [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, body)]
    )


@contextlib.contextmanager
def environment(backend: str) -> Iterator[Any]:
    from infra.bootstrap import bootstrap
    from infra.crypto.passwords import Argon2PasswordHasher
    from infra.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="tilde-bench-authz-"))
    url = ""
    container = None
    try:
        if backend == "postgres":
            from tests import services

            url = services.create_database()
        settings = Settings(
            data_dir=tmp / "data", database_url=url, secret_key="bench", log_level="WARNING"
        )
        hasher = Argon2PasswordHasher(time_cost=1, memory_cost=1024)
        container = bootstrap(settings, hasher=hasher)
        container.start_background()
        yield container
    finally:
        if container is not None:
            container.close()
        if url:
            from tests import services

            services.drop_database(url)
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m bench.authz", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--calls", type=int, default=None, help="warm calls (default 100,000)")
    parser.add_argument("--output", type=Path, default=None, help="JSON file")
    args = parser.parse_args(argv)
    calls = args.calls or (20_000 if args.quick else 100_000)
    cfg = Config.quick(calls) if args.quick else Config.full(calls)
    configure_logging("WARNING", "console")

    def log(message: str) -> None:
        print(f"… {message}", file=sys.stderr, flush=True)

    started, load_before = time.perf_counter(), load_average()
    with environment(args.backend) as container:
        log("building the organization (50 policies, 20 groups nested 3 deep)…")
        org = build_org(container)
        checks = correctness(container, org)
        container.stop_background()
        rows = measure(container, org, cfg, log)
    info = {**machine(), "load_average_1m": [load_before, load_average()]}
    print(
        f"\nauthz benchmark — backend {args.backend}{' (quick)' if args.quick else ''}, "
        f"{info['cpus']} CPUs, Python {info['python']}, "
        f"{time.perf_counter() - started:.0f} s, "
        f"load average {load_before:.2f} → {info['load_average_1m'][1]:.2f}\n"
        f"organization: {org.policies} policies, {org.groups} groups; the member is in "
        f"{org.effective_groups} groups (3 deep) and has {org.effective_policies} effective "
        f"policies ({org.statements} statements)\n"
    )
    print(render(rows))
    print(
        "\nbaseline: dict.get of the memo key for the warm rows; the warm decision for the "
        "uncached/cold rows; a public GET for the guard rows. ratio = tilde ÷ baseline."
    )
    print("checks: " + ", ".join(f"{k}={v}" for k, v in checks.items()))
    path = args.output or RESULTS_DIR / f"authz-{args.backend}.json"
    write_json(
        path,
        {
            "benchmark": "authz",
            "backend": args.backend,
            "quick": args.quick,
            "config": vars(cfg),
            "organization": vars(org) | {"member": org.member.name, "member_token": "…"},
            "machine": info,
            "rows": [r.as_dict() for r in rows],
            "checks": checks,
        },
    )
    print(f"results: {path}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
