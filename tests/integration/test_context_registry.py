"""A context joins the server through the registries alone: one more entry in
`infra.contexts.CONTEXTS` (and its controllers in `interfaces.http.routes`), no edit of
`infra/bootstrap.py`, and its application, view and worker are built, run and served."""

from __future__ import annotations

import ast
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.domain import Aggregate, event
from litestar import Controller, get
from litestar.testing import TestClient

import infra.contexts
from application.base import TildeApplication, Written
from application.catalog import CatalogApplication
from infra.bootstrap import bootstrap
from infra.contexts import ContextParts, Shared
from infra.projections.locks import InstanceLock
from infra.settings import Settings
from interfaces.http import routes
from interfaces.http.app import create_app
from interfaces.http.deps import ContainerDep
from projections.base import Cursor, View, on
from tests.conftest import FAST_HASHER

ROOT = Path(__file__).resolve().parents[2]


class Note(Aggregate):
    """The fake context's aggregate."""

    @event("Written")
    def __init__(self, text: str) -> None:
        self.text = text


class NotesApplication(TildeApplication):
    """The fake context's application."""

    name = "notes"

    def write(self, text: str) -> Written:
        return self.record(Note(text))


class NotesView(View):
    """The fake context's view: one row per note."""

    name = "fake_notes"
    follows = {"notes": (Note.Written,)}
    tables = ("fake_notes",)

    def create_statements(self, dialect: str) -> list[str]:
        return ["CREATE TABLE IF NOT EXISTS fake_notes (id TEXT PRIMARY KEY, text TEXT NOT NULL)"]

    @on(Note.Written)
    def _written(self, cur: Cursor, e: Any) -> None:
        cur.execute(
            "INSERT INTO fake_notes (id, text) VALUES (?, ?)", (str(e.originator_id), e.text)
        )


class Sweeper:
    """The fake context's worker: holds its single-instance lock while it runs."""

    def __init__(self, lock: InstanceLock) -> None:
        self.lock = lock
        self.running = threading.Event()

    def start(self) -> None:
        assert self.lock.try_acquire()
        self.running.set()

    def stop(self) -> None:
        self.running.clear()
        self.lock.release()


def build(shared: Shared) -> ContextParts:
    """The fake context's module, as a new context would write it."""
    shared.get("catalog", CatalogApplication)  # a context may build on earlier ones
    notes = NotesApplication(
        shared.env("notes"), factory=shared.factory, clock=shared.clock, observers=[shared.saved]
    )
    sweeper = Sweeper(shared.locks("notes-sweeper"))
    return ContextParts(
        applications=[notes],
        views=[NotesView()],
        workers=[sweeper],
        singletons={"notes-sweeper": sweeper.lock},
        services={"notes": notes, "notes-sweeper": sweeper},
    )


class NotesController(Controller):
    """The fake context's routes."""

    path = "/fake-notes"

    @get("/", opt={"action": "GetHealth"}, operation_id="listFakeNotes", sync_to_thread=True)
    def list_notes(self, container: ContainerDep) -> list[str]:
        return [r["text"] for r in container.db.query("SELECT text FROM fake_notes")]


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(infra.contexts, "CONTEXTS", [*infra.contexts.CONTEXTS, build])
    monkeypatch.setattr(routes, "API_CONTROLLERS", [*routes.API_CONTROLLERS, NotesController])


@pytest.mark.usefixtures("registered")
def test_a_context_in_the_registry_is_built_projected_run_and_served(backend: Settings) -> None:
    container = bootstrap(backend, hasher=FAST_HASHER)
    try:
        notes = container.service("notes", NotesApplication)
        sweeper = container.service("notes-sweeper", Sweeper)
        assert container.applications["notes"] is notes
        assert "fake_notes" in container.projections.views
        assert "fake_notes" in container.projections.runners
        with TestClient(create_app(container, run_background=True)) as client:
            assert sweeper.running.is_set()
            written = notes.write("hello")
            assert container.wait_for([written], timeout=10)
            assert client.get("/api/v1/fake-notes").json() == ["hello"]
            status = {(r["projection"], r["application"]) for r in container.projections.status()}
            assert ("fake_notes", "notes") in status
            assert "notes-sweeper" not in container.projector_health()["unowned"]
        assert not sweeper.running.is_set()
        # Stopped, the worker's lock has no owner and /health says so (owners cached ≤ 1 s).
        deadline = time.monotonic() + 5
        while "notes-sweeper" not in container.projector_health()["unowned"]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        container.close()


def test_the_default_registry_builds_every_context(backend: Settings) -> None:
    container = bootstrap(backend, hasher=FAST_HASHER)
    try:
        assert set(container.applications) == {
            "identity",
            "organizations",
            "catalog",
            "secrets",
            "triggers",
            "imports",
            "sandboxes",
            "connectors",
        }
        assert container.identity is container.services["identity"]
        assert "import_jobs" in container.projections.views
        assert container.services["import_worker"] in container.workers
        assert container.outbox in container.workers
        assert "notes" not in container.services
    finally:
        container.close()


def test_the_composition_root_names_no_view_and_no_controller() -> None:
    """Views and controllers join through the registries, so bootstrap and create_app never
    need an edit for a new context."""
    for path, suffix in (("infra/bootstrap.py", "View"), ("interfaces/http/app.py", "Controller")):
        tree = ast.parse((ROOT / path).read_text())
        imports = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        named = [a.name for n in imports for a in n.names if a.name.endswith(suffix)]
        named += [n.module for n in imports if (n.module or "").startswith("projections")]
        assert named == [], f"{path} imports {named}"
