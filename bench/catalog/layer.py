"""Phase A's subject: the catalog application from `infra.bootstrap.bootstrap`, driven in this
process (no HTTP), and the repositories it builds."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.catalog.config import BUILD_COMMIT, entry, layout, same_shard_batches
from bench.common import Stopwatch, log


@dataclass
class Repo:
    name: str
    id: str
    paths: list[str]
    diff: tuple[int, int] = (0, 0)  # (left, right) seqs 1,000 changed paths apart
    base_seq: int = 0  # the baseline's own head seq in bench_commits


@dataclass
class BuildReport:
    objects: int
    seconds: float
    stage_seconds: float
    commit_seconds: list[float] = field(default_factory=list)


class CatalogBench:
    """The catalog application and its inline tables, driven in this process."""

    def __init__(self, container: Any, backend: str) -> None:
        from application.principal import Principal

        self.container = container
        self.cat = container.catalog
        self.db = container.catalog_db
        self.backend = backend
        self.principal = Principal("user", str(uuid.uuid4()), "bench", "bearer")
        self.org = str(uuid.uuid4())
        self.versions = itertools.count(1)

    def now(self) -> str:
        from domain.shared.values import stamp

        return stamp(self.cat.clock())

    def create(self, name: str) -> Repo:
        repo = self.cat.create_repository(
            self.org, name=name, settings={}, principal=self.principal
        ).value
        return Repo(name, str(repo.id), [])

    def session(self, repo: Repo) -> str:
        return str(self.cat.create_session(self.org, repo.name, self.principal).value.id)

    def stage(self, repo: Repo, sid: str, paths: Sequence[str], version: str) -> None:
        aggregate = self.cat.get_repository(self.org, repo.name)
        now = self.now()
        for batch in same_shard_batches(paths):
            entries = [entry(p, version, now) for p in batch]
            self.cat.stage(aggregate, sid, entries, self.principal.actor)

    def commit(self, repo: Repo, sid: str) -> int:
        outcome = self.cat.commit(
            self.org, repo.name, sid, message="bench", metadata={}, principal=self.principal
        ).value
        return int(outcome.seq)

    def build(self, repo: Repo, n: int, tag: str = "") -> BuildReport:
        """n objects staged through `catalog.stage` (1,000 per call) and committed in
        sessions of at most BUILD_COMMIT."""
        repo.paths = layout(n, tag)
        report = BuildReport(n, 0.0, 0.0)
        started = time.perf_counter()
        for start in range(0, n, BUILD_COMMIT):
            chunk = repo.paths[start : start + BUILD_COMMIT]
            sid = self.session(repo)
            with Stopwatch() as staging:
                self.stage(repo, sid, chunk, "v0")
            with Stopwatch() as committing:
                self.commit(repo, sid)
            report.stage_seconds += staging.seconds
            report.commit_seconds.append(committing.seconds)
            if n > BUILD_COMMIT:
                log(
                    f"  {start + len(chunk):,}/{n:,} objects "
                    f"(staged {len(chunk) / staging.seconds:,.0f}/s, "
                    f"commit {committing.seconds:.1f} s)"
                )
        report.seconds = time.perf_counter() - started
        return report

    def head_seq(self, repo: Repo) -> int:
        return int(self.cat.get_repository(self.org, repo.name).head_seq)

    def modify(self, repo: Repo, paths: Sequence[str]) -> int:
        sid = self.session(repo)
        self.stage(repo, sid, paths, f"v{next(self.versions)}")
        return self.commit(repo, sid)
