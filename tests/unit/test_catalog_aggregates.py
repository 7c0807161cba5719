"""The catalog aggregates' guards (Repository, Session, StagingShard): each refusal raises
its domain error and records nothing; commits get their sequence, parents and id here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from domain.catalog.commits import Committer, check_message, check_metadata
from domain.catalog.repository import Repository, check_settings
from domain.catalog.session import COMMITTED, PENDING_APPROVAL, ROLLED_BACK, Session
from domain.catalog.staging import MAX_BATCH, StagingShard, staged_delete, staged_put
from domain.catalog.tree import Tree
from domain.shared.errors import Conflict, Forbidden, Invalid, NotFound
from domain.shared.values import Actor

OWNER = Actor("user", "u-1")
AGENT = Actor("agent", "a-1")
NOW = datetime(2026, 1, 1, tzinfo=UTC)
CHANGE = {"path": "a.txt", "op": "put", "address": "r/1", "etag": "e1"}


def repository(**settings: Any) -> Repository:
    repo = Repository.create(
        repository_id=uuid4(), organization_id="org", name="repo", settings=settings, actor=OWNER
    )
    repo.collect_events()
    return repo


def session(repo: Repository) -> Session:
    opened = Session.open(
        session_id=uuid4(),
        organization_id="org",
        repository_id=str(repo.id),
        base_seq=repo.head_seq,
        actor=OWNER,
    )
    opened.collect_events()
    return opened


def shard(opened: Session, index: int = 3) -> StagingShard:
    opened.use_shard(index, OWNER)
    started = StagingShard.start(
        session_id=str(opened.id),
        organization_id="org",
        repository_id=opened.repository_id,
        index=index,
        actor=OWNER,
    )
    started.stage([staged_put("a.txt", **ENTRY)], OWNER)
    opened.collect_events()
    started.collect_events()
    return started


ENTRY: dict[str, Any] = {
    "address": "r/1",
    "size": 1,
    "etag": "e1",
    "content_type": "text/plain",
    "metadata": {},
    "last_modified": "2026-01-01T00:00:00.000000Z",
}


def commit(opened: Session, repo: Repository, shards: list[StagingShard], **kw: Any) -> Any:
    args: dict[str, Any] = {
        "message": "m",
        "metadata": {},
        "committer": Committer(OWNER, "owner"),
        "closer": OWNER,
        "kind": "session",
        "timestamp": NOW,
    }
    return opened.commit(repo, shards, kw.pop("changes", [CHANGE]), **{**args, **kw})


def refused(aggregates: list[Any], error: type[Exception], call: Any) -> None:
    """`call` raises `error` and no aggregate recorded an event."""
    with pytest.raises(error):
        call()
    assert all(a.collect_events() == [] for a in aggregates)


# -- Repository ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "settings",
    [
        {"description": 5},
        {"retention_days": 0},
        {"retention_days": 36501},
        {"retention_days": True},
        {"retention_days": "7"},
        {"session_max_duration_days": 0},
        {"agents_require_approval": "yes"},
        {"visibility": 1},
    ],
)
def test_bad_repository_settings_are_invalid(settings: dict[str, Any]) -> None:
    with pytest.raises(Invalid):
        check_settings(settings)
    with pytest.raises(Invalid):
        repository(**settings)
    repo = repository()
    refused([repo], Invalid, lambda: repo.update(settings, OWNER))


def test_settings_normalize_a_null_description_and_drop_null_durations() -> None:
    assert check_settings({"description": None, "retention_days": None}) == {"description": ""}


def test_an_update_that_changes_nothing_records_nothing() -> None:
    repo = repository(retention_days=30)
    repo.update({"retention_days": 30}, OWNER)
    assert repo.collect_events() == []


def test_a_deleted_repository_refuses_updates_and_commits() -> None:
    repo = repository()
    repo.delete(OWNER)
    repo.collect_events()
    refused([repo], NotFound, repo.require_live)
    refused([repo], NotFound, lambda: repo.update({"description": "x"}, OWNER))
    refused(
        [repo],
        NotFound,
        lambda: repo.add_commit(
            session_id="s",
            changes=[CHANGE],
            message="m",
            metadata={},
            committer=Committer(OWNER, "owner"),
            kind="session",
            timestamp=NOW,
        ),
    )


def test_a_commit_needs_changes() -> None:
    repo = repository()
    refused(
        [repo],
        Invalid,
        lambda: repo.add_commit(
            session_id="s",
            changes=[],
            message="m",
            metadata={},
            committer=Committer(OWNER, "owner"),
            kind="session",
            timestamp=NOW,
        ),
    )


def test_commits_chain_sequence_parents_and_content_ids() -> None:
    repo = repository()
    args: dict[str, Any] = {
        "message": "m",
        "metadata": {"k": "v"},
        "committer": Committer(OWNER, "owner"),
        "kind": "session",
        "timestamp": NOW,
    }
    first = repo.add_commit(session_id="s1", changes=[CHANGE], **args)
    second = repo.add_commit(session_id="s2", changes=[CHANGE], **args)
    events = repo.collect_events()
    assert (first.seq, second.seq) == (1, 2) and repo.head_commit_id == second.commit_id
    assert [e.parents for e in events] == [[], [first.commit_id]]  # type: ignore[attr-defined]
    assert first.commit_id != second.commit_id and len(first.commit_id) == 64
    # The id is a function of the content: the same commit on a twin repository differs
    # only by the repository (so ids never collide across repositories).
    twin = repository()
    assert twin.add_commit(session_id="s1", changes=[CHANGE], **args).commit_id != first.commit_id


def test_only_agents_wait_for_approval_and_only_where_required() -> None:
    assert repository(agents_require_approval=True).requires_approval(AGENT)
    assert not repository(agents_require_approval=True).requires_approval(OWNER)
    assert not repository().requires_approval(AGENT)


def test_retention_decides_which_commits_are_stale() -> None:
    repo = repository(retention_days=7)
    assert repo.is_stale((NOW - timedelta(days=8)).isoformat(), NOW)
    assert not repo.is_stale((NOW - timedelta(days=6)).isoformat(), NOW)
    assert repository().retention_days == 14


# -- Session ------------------------------------------------------------------------------
def test_a_pending_session_refuses_staging_with_a_conflict() -> None:
    repo = repository()
    opened = session(repo)
    opened.request_approval("m", {}, AGENT)
    opened.collect_events()
    assert opened.status == PENDING_APPROVAL
    refused([opened], Conflict, opened.require_open)
    refused([opened], Conflict, lambda: opened.use_shard(1, AGENT))
    refused([opened], Conflict, lambda: opened.request_approval("again", {}, AGENT))


@pytest.mark.parametrize("closed", [COMMITTED, ROLLED_BACK])
def test_a_closed_session_refuses_everything_but_an_idempotent_rollback(closed: str) -> None:
    repo = repository()
    opened = session(repo)
    shards = [shard(opened)]
    if closed == COMMITTED:
        commit(opened, repo, shards)
    else:
        assert opened.roll_back("done", OWNER, shards)
    for aggregate in (repo, opened, *shards):
        aggregate.collect_events()
    assert opened.status == closed and shards[0].sealed
    refused([opened], NotFound, opened.require_open)
    refused([opened], NotFound, opened.require_committable)
    refused([opened], NotFound, lambda: opened.use_shard(5, OWNER))
    refused([opened], NotFound, lambda: opened.request_approval("m", {}, AGENT))
    refused([opened, repo, *shards], NotFound, lambda: commit(opened, repo, shards))
    if closed == COMMITTED:
        refused([opened], Invalid, lambda: opened.roll_back("late", OWNER))
    else:
        assert opened.roll_back("again", OWNER) is False
        assert opened.collect_events() == []


def test_a_shard_is_registered_once() -> None:
    opened = session(repository())
    assert opened.use_shard(2, OWNER) is True
    assert opened.use_shard(2, OWNER) is False
    assert len(opened.collect_events()) == 1 and opened.shards == [2]


def test_commit_lands_on_the_repository_closes_the_session_and_seals_its_shards() -> None:
    repo = repository()
    opened = session(repo)
    shards = [shard(opened)]
    new = commit(opened, repo, shards, closer=AGENT)
    assert (new.seq, repo.head_seq, repo.head_commit_id) == (1, 1, new.commit_id)
    assert opened.status == COMMITTED and shards[0].sealed
    committed = opened.collect_events()[-1]
    assert committed.actor_type == "agent" and committed.commit_id == new.commit_id  # type: ignore[attr-defined]


def test_commit_refuses_another_repositorys_session() -> None:
    repo, other = repository(), repository()
    opened = session(repo)
    shards = [shard(opened)]
    refused([opened, other, *shards], NotFound, lambda: commit(opened, other, shards))


def test_commit_refuses_shards_that_are_not_the_sessions_own() -> None:
    repo = repository()
    opened = session(repo)
    mine = shard(opened, 3)
    stranger = shard(session(repo), 3)
    all_of = [repo, opened, mine, stranger]
    refused(all_of, Conflict, lambda: commit(opened, repo, []))  # a shard missing
    refused(all_of, Conflict, lambda: commit(opened, repo, [stranger]))
    mine.seal("rolled back elsewhere", OWNER)
    mine.collect_events()
    refused(all_of, Conflict, lambda: commit(opened, repo, [mine]))


def test_commit_with_no_changes_records_nothing_anywhere() -> None:
    repo = repository()
    opened = session(repo)
    shards = [shard(opened)]
    refused([repo, opened, *shards], Invalid, lambda: commit(opened, repo, shards, changes=[]))
    assert opened.status == "open" and not shards[0].sealed


def test_commit_on_a_deleted_repository_records_nothing() -> None:
    repo = repository()
    opened = session(repo)
    shards = [shard(opened)]
    repo.delete(OWNER)
    repo.collect_events()
    refused([repo, opened, *shards], NotFound, lambda: commit(opened, repo, shards))


def test_only_a_human_approves_and_only_a_pending_request() -> None:
    repo = repository(agents_require_approval=True)
    opened = session(repo)
    refused([opened], NotFound, lambda: opened.approved_commit(OWNER, "owner", None, {}))
    opened.request_approval("results", {"run": "7", "requested_by_name": "bot"}, AGENT)
    opened.collect_events()
    refused([opened], Forbidden, lambda: opened.approved_commit(AGENT, "bot", None, {}))
    approved = opened.approved_commit(OWNER, "owner", None, {"note": "ok"})
    assert approved.message == "results"
    assert approved.committer == Committer(AGENT, "bot")
    assert approved.metadata == {
        "run": "7",
        "note": "ok",
        "approved_by": "owner",
        "approved_by_type": "user",
        "approved_by_id": "u-1",
    }
    assert opened.approved_commit(OWNER, "owner", "mine", {}).message == "mine"


# -- StagingShard -------------------------------------------------------------------------
def test_a_shard_stages_one_to_max_batch_changes() -> None:
    staged = shard(session(repository()))
    refused([staged], Invalid, lambda: staged.stage([], OWNER))
    too_many = [staged_delete(f"p{i}", "t") for i in range(MAX_BATCH + 1)]
    refused([staged], Invalid, lambda: staged.stage(too_many, OWNER))
    staged.stage(too_many[:MAX_BATCH], OWNER)
    assert staged.count == MAX_BATCH + 1


def test_a_sealed_shard_refuses_staging_and_seals_once() -> None:
    staged = shard(session(repository()))
    staged.seal("committed", OWNER)
    staged.seal("again", OWNER)
    assert len(staged.collect_events()) == 1
    refused([staged], NotFound, lambda: staged.stage([staged_delete("p", "t")], OWNER))


# -- commit inputs and trees --------------------------------------------------------------
@pytest.mark.parametrize("message", [None, "", "   ", 5, "x" * 65537])
def test_a_commit_message_is_required_and_bounded(message: object) -> None:
    with pytest.raises(Invalid):
        check_message(message)


@pytest.mark.parametrize("metadata", ["x", {"k": 1}, {1: "v"}, {f"k{i}": "v" for i in range(101)}])
def test_commit_metadata_is_at_most_100_string_pairs(metadata: object) -> None:
    with pytest.raises(Invalid):
        check_metadata(metadata)
    assert check_metadata(None) == {}


def test_trees_name_the_head_a_commit_or_a_sessions_view() -> None:
    assert Tree.head("r") == Tree("r", None, "")
    assert Tree.at("r", 3).seq == 3
    assert Tree.staged("r", "s", 2) == Tree("r", 2, "s")
