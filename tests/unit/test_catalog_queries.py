"""CatalogQueries over a fake CatalogReads: what a read names becomes a Tree, retention
answers 410, sessions are scoped to their repository; and no HTTP or console module reads
the catalog tables or picks the catalog database itself."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from application.catalog.queries import CatalogQueries
from domain.catalog.repository import Repository
from domain.catalog.tree import Tree
from domain.shared.errors import Gone, Invalid, NotFound
from domain.shared.values import Actor, stamp

NOW = datetime(2026, 6, 1, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


class FakeReads:
    """Commits and sessions in dicts; records the trees reads were asked for."""

    def __init__(self, repository_id: str) -> None:
        self.repository_id = repository_id
        self.commits: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.trees: list[Tree] = []

    def add_commit(self, commit_id: str, days_ago: int, session_id: str = "") -> None:
        self.commits[commit_id] = {
            "id": commit_id,
            "seq": len(self.commits) + 1,
            "session_id": session_id,
            "creation_date": stamp(NOW - timedelta(days=days_ago)),
        }

    def session_row(self, session_id: str) -> dict[str, Any] | None:
        return self.sessions.get(session_id)

    def commit_row(self, repository_id: str, commit_id: str) -> dict[str, Any] | None:
        return self.commits.get(commit_id) if repository_id == self.repository_id else None

    def commit_row_by_seq(self, repository_id: str, seq: int) -> dict[str, Any] | None:
        return next((c for c in self.commits.values() if c["seq"] == seq), None)

    def commit_of_session(self, repository_id: str, session_id: str) -> dict[str, Any] | None:
        return next((c for c in self.commits.values() if c["session_id"] == session_id), None)

    def head_seq(self, repository_id: str) -> int:
        return len(self.commits)

    def entry(self, tree: Tree, path: str) -> dict[str, Any] | None:
        self.trees.append(tree)
        return {"path": path} if path == "there" else None

    def listing(self, tree: Tree, **kw: Any) -> list[dict[str, Any]]:
        self.trees.append(tree)
        return [{"path": "a", "type": "object"}, {"path": "d/", "type": "prefix"}]

    def log(self, repository_id: str, *, below_seq: int, **kw: Any) -> list[dict[str, Any]]:
        return sorted(
            (c for c in self.commits.values() if c["seq"] < below_seq),
            key=lambda c: -int(c["seq"]),
        )

    def diff_commits(self, repository_id: str, left: int, right: int, **kw: Any) -> list[Any]:
        return [("diff", left, right)]

    def diff_staged(self, tree: Tree, **kw: Any) -> list[Any]:
        self.trees.append(tree)
        return [("staged", tree)]


@pytest.fixture
def setup() -> tuple[CatalogQueries, FakeReads, str]:
    repo = Repository.create(
        repository_id=uuid4(),
        organization_id="org",
        name="repo",
        settings={"retention_days": 7},
        actor=Actor("user", "u"),
    )
    repo_id = str(repo.id)
    reads = FakeReads(repo_id)
    reads.add_commit("old", days_ago=30)
    reads.add_commit("new", days_ago=1, session_id="s-committed")
    for sid, status in (
        ("s-open", "open"),
        ("s-committed", "committed"),
        ("s-gone", "rolled_back"),
    ):
        reads.sessions[sid] = {"id": sid, "repository_id": repo_id, "status": status, "base_seq": 1}
    reads.sessions["s-other"] = {"id": "s-other", "repository_id": "x", "status": "open"}

    def lookup(org_id: str, name: str) -> Repository:
        if (org_id, name) != ("org", "repo"):
            raise NotFound(f"repository '{name}' not found")
        return repo

    return CatalogQueries(lookup, reads, lambda: NOW), reads, repo_id  # type: ignore[arg-type]


Setup = tuple[CatalogQueries, FakeReads, str]


def test_a_read_names_the_head_a_retained_commit_or_a_sessions_view(setup: Setup) -> None:
    queries, _, repo_id = setup
    assert queries.tree("org", "repo") == Tree.head(repo_id)
    assert queries.tree("org", "repo", ref="new") == Tree.at(repo_id, 2)
    assert queries.tree("org", "repo", session_id="s-open") == Tree.staged(repo_id, "s-open", 1)
    # A committed session reads what it committed.
    assert queries.tree("org", "repo", session_id="s-committed") == Tree.at(repo_id, 2)


@pytest.mark.parametrize(
    ("kw", "error"),
    [
        ({"ref": "old"}, Gone),
        ({"ref": "missing"}, NotFound),
        ({"session_id": "s-gone"}, NotFound),
        ({"session_id": "s-other"}, NotFound),
        ({"session_id": "nope"}, NotFound),
        ({"session_id": "s-open", "ref": "new"}, Invalid),
    ],
)
def test_reads_refuse_what_they_cannot_see(setup: Setup, kw: dict[str, str], error: type) -> None:
    queries, reads, _ = setup
    with pytest.raises(error):
        queries.entry("org", "repo", "there", **kw)
    with pytest.raises(error):
        queries.list_entries("org", "repo", "", amount=10, **kw)
    assert reads.trees == []  # refused before anything was read


def test_entries_and_listings_read_the_resolved_tree(setup: Setup) -> None:
    queries, reads, repo_id = setup
    assert queries.entry("org", "repo", "there", ref="new") == {"path": "there"}
    with pytest.raises(NotFound, match="object 'missing' not found"):
        queries.entry("org", "repo", "missing")
    with pytest.raises(Invalid):
        queries.list_entries("org", "repo", "", amount=10, delimiter="123456789")
    with pytest.raises(NotFound):
        queries.entry("org", "elsewhere", "there")
    assert reads.trees == [Tree.at(repo_id, 2), Tree.head(repo_id)]


def test_commits_are_described_with_their_staleness_and_never_read_past_retention(
    setup: Setup,
) -> None:
    queries, _, _ = setup
    assert queries.commit("org", "repo", "old")["is_stale"] is True
    assert [(c["id"], c["is_stale"]) for c in queries.log("org", "repo", amount=10)] == [
        ("new", False),
        ("old", True),
    ]
    assert [c["id"] for c in queries.log("org", "repo", amount=10, after="new")] == ["old"]
    with pytest.raises(NotFound, match="ref commit"):
        queries.log("org", "repo", amount=10, ref="missing")
    with pytest.raises(Gone, match="left commit"):
        queries.diff("org", "repo", "", amount=10, left="old", right="new")


def test_diffs_against_the_empty_tree_a_commit_or_a_session(setup: Setup) -> None:
    queries, _, repo_id = setup
    assert queries.diff("org", "repo", "", amount=10) == [
        {"path": "a", "type": "object", "status": "added"},
        {"path": "d/", "type": "prefix"},
    ]
    queries.reads.commits.pop("old")  # type: ignore[attr-defined]
    queries.reads.commits["new"]["seq"] = 1  # type: ignore[attr-defined]
    queries.reads.add_commit("newer", days_ago=0)  # type: ignore[attr-defined]
    assert queries.diff("org", "repo", "", amount=10, left="new") == [("diff", 1, 2)]
    staged = Tree.staged(repo_id, "s-open", 1)
    assert queries.diff("org", "repo", "", amount=10, session_id="s-open") == [("staged", staged)]
    # A rolled-back session's changes can still be reviewed (nothing is staged any more).
    assert queries.changes("org", "repo", "s-gone", "", amount=10)
    with pytest.raises(NotFound):
        queries.changes("org", "repo", "s-other", "", amount=10)


def test_no_commits_no_diff(setup: Setup) -> None:
    queries, reads, _ = setup
    reads.commits.clear()
    with pytest.raises(Invalid):
        queries.diff("org", "repo", "", amount=10)


def test_pending_approval_is_false_for_unknown_sessions(setup: Setup) -> None:
    queries, reads, _ = setup
    reads.sessions["s-open"]["status"] = "pending_approval"
    assert queries.pending_approval("org", "repo", "s-open") is True
    assert queries.pending_approval("org", "repo", "s-committed") is False
    assert queries.pending_approval("org", "repo", "nope") is False
    assert queries.pending_approval("org", "elsewhere", "s-open") is False


CATALOG_TABLES = re.compile(
    r"projections\.catalog\.(queries|history|catalog|reads)\b|catalog_db|catalog\.reads\b"
)


@pytest.mark.parametrize(
    "module",
    sorted(
        str(p.relative_to(ROOT))
        for folder in ("interfaces/http", "interfaces/console")
        for p in (ROOT / folder).rglob("*.py")
    ),
)
def test_http_and_console_modules_read_the_catalog_only_through_its_queries(module: str) -> None:
    source = (ROOT / module).read_text()
    assert not CATALOG_TABLES.search(source), (
        f"{module} reads the catalog tables or picks their database: use catalog.queries"
    )
