"""The PostgreSQL event store's hot statements keep one plan and read through the primary key.

A prepared statement is planned afresh at each call unless PostgreSQL judges the plan made
once for it (its generic plan) as cheap as one made for the values; for a fast-forward's
read that planning cost the server about as much as the read. These tests run the
recorder's own statements on a connection of their own, as a pooled connection would, and
read `pg_prepared_statements`; then they force the generic plan and check it scans the
primary key's range, not the table."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent
from psycopg.rows import dict_row

from infra.bootstrap import Container, bootstrap
from infra.eventstore.postgres import TildePostgresApplicationRecorder
from tests import services
from tests.conftest import FAST_HASHER, make_settings

STREAMS = 300
EVENTS_PER_STREAM = 20


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Container, list[Any]]]:
    """A PostgreSQL catalog whose event table holds 6,000 events of 300 streams, analyzed."""
    settings = make_settings(Path(tmp_path_factory.mktemp("plans")), "postgres")
    container = bootstrap(settings, hasher=FAST_HASHER)
    recorder = pg_recorder(container)
    ids = [uuid.uuid4() for _ in range(STREAMS)]
    for stream in ids:
        recorder.insert_events(
            [StoredEvent(stream, v, "bench:Event", b"x" * 200) for v in range(1, 21)]
        )
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("ANALYZE catalog_events")
    try:
        yield container, ids
    finally:
        container.close()
        services.drop_database(settings.database_url)


def pg_recorder(container: Container) -> TildePostgresApplicationRecorder:
    recorder = container.catalog.recorder
    assert isinstance(recorder, TildePostgresApplicationRecorder)
    return recorder


def run_prepared(url: str, statement: bytes, calls: list[list[Any]]) -> tuple[int, int, str]:
    """Execute `statement` prepared once per parameter list on a fresh connection; (generic
    plans, custom plans) it used, and the text of its forced generic plan."""
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        for params in calls:
            conn.execute(statement, params, prepare=True).fetchall()
        prepared = conn.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
        ).fetchall()
        assert len(prepared) == 1, prepared  # the connection prepared this statement only
        plans = prepared[0]
        conn.execute(b"PREPARE probe AS " + _numbered(statement, len(calls[0])))
        conn.execute("SET plan_cache_mode = force_generic_plan")
        args = ", ".join(_literal(conn, p) for p in calls[0])
        plan = "\n".join(
            row["QUERY PLAN"] for row in conn.execute(f"EXPLAIN EXECUTE probe({args})")
        )
    return plans["generic_plans"], plans["custom_plans"], plan


def _numbered(statement: bytes, count: int) -> bytes:
    """`%s` placeholders as `$1…$n` (what psycopg sends when it prepares)."""
    text = statement.decode()
    for n in range(1, count + 1):
        text = text.replace("%s", f"${n}", 1)
    return text.encode()


def _literal(conn: psycopg.Connection[Any], value: Any) -> str:
    return psycopg.sql.Literal(value).as_string(conn)


def assert_one_plan_on_the_key(
    container: Container,
    compose: Callable[[TildePostgresApplicationRecorder, Any], bytes],
    calls: list[list[Any]],
) -> None:
    """The recorder's statement (`compose`), run prepared once per call: after the first
    five calls PostgreSQL keeps its generic plan, and that plan scans the primary key."""
    recorder = pg_recorder(container)
    with recorder.datastore.get_connection() as conn:
        statement = compose(recorder, conn)
    generic, custom, plan = run_prepared(container.settings.database_url, statement, calls)
    assert generic >= len(calls) - 5 and custom <= 5, (generic, custom)
    assert "Seq Scan" not in plan and "catalog_events_pkey" in plan, plan


def test_a_fast_forward_of_two_streams_keeps_one_plan_on_the_primary_key(
    catalog: tuple[Container, list[Any]],
) -> None:
    container, ids = catalog
    recorder = pg_recorder(container)
    # The newest version of each (the usual fast-forward: nothing new), as the server asks.
    calls = [[ids[i], 20, ids[i + 1], 20] for i in range(0, 24, 2)]
    assert_one_plan_on_the_key(container, lambda r, c: r._select_after_statement(c, 2), calls)
    # And it answers what was asked: the events after each version, in order.
    found = recorder.select_events_after([(ids[0], 17), (ids[1], 19), (ids[2], 20)])
    assert {k: [e.originator_version for e in v] for k, v in found.items()} == {
        ids[0]: [18, 19, 20], ids[1]: [20],
    }  # fmt: skip


def test_a_read_of_one_stream_after_a_version_keeps_one_plan_on_the_primary_key(
    catalog: tuple[Container, list[Any]],
) -> None:
    container, ids = catalog
    recorder = pg_recorder(container)
    calls = [[ids[i], 20] for i in range(12)]
    shape = (True, False, False, False)  # after a version, ascending, no limit
    assert_one_plan_on_the_key(container, lambda r, c: r._select_statement(c, shape), calls)
    events = recorder.select_events(ids[5], gt=18, lte=19)
    assert [e.originator_version for e in events] == [19]


def test_the_expected_version_guard_is_one_function_made_with_the_table(
    catalog: tuple[Container, list[Any]],
) -> None:
    """The guard of an append that expects versions calls a function made once (compiled
    once per connection), not an anonymous block compiled at every append; it still fails
    as a lost race, writing nothing."""
    container, ids = catalog
    recorder = pg_recorder(container)
    url = container.settings.database_url
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute(
            "SELECT count(*) FROM pg_proc WHERE proname = 'catalog_events_expect'"
        ).fetchone() == (1,)
    stream = uuid.uuid4()
    recorder.insert_events([StoredEvent(stream, 1, "t:E", b"1")])
    with recorder.datastore.get_connection() as conn:
        guard = recorder._guard(conn, [(ids[0], 20), (stream, 1)])
    assert guard.startswith('SELECT "public"."catalog_events_expect"('), guard
    assert recorder.insert_events(
        [StoredEvent(stream, 2, "t:E", b"2")], expect=[(ids[0], 20), (stream, 1)]
    )
    with pytest.raises(IntegrityError, match="moved past the version expected"):
        recorder.insert_events([StoredEvent(stream, 3, "t:E", b"3")], expect=[(stream, 1)])
    assert [e.originator_version for e in recorder.select_events(stream)] == [1, 2]
