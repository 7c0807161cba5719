"""Closing a container gives back every descriptor it opened: a long-running process (and
the test suite, which bootstraps hundreds) that opens and closes containers must not creep
towards the descriptor limit — past 1,024 `select()` refuses them, and at the hard limit
nothing opens at all."""

from __future__ import annotations

import os
from pathlib import Path

from infra.bootstrap import bootstrap
from infra.settings import Settings
from tests import services
from tests.conftest import FAST_HASHER, make_settings


def open_descriptors() -> set[tuple[str, str]]:
    """(descriptor, what it refers to) for each open one: a socket or pipe carries its inode,
    so a new one is told apart from an old one that happens to get the same number."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            found.add((fd, os.readlink(f"/proc/self/fd/{fd}")))
        except OSError:  # closed meanwhile (the listing's own descriptor, a finishing thread)
            continue
    return found


def test_a_closed_container_leaves_no_descriptor_open(backend: Settings, tmp_path: Path) -> None:
    # The first container warms up what a process keeps once (imports, the shared engine pool).
    bootstrap(backend, hasher=FAST_HASHER).close()
    before = open_descriptors()
    for i in range(3):
        settings = backend
        if i:  # fresh stores too, not only the same one reopened
            settings = make_settings(
                tmp_path / str(i), "postgres" if backend.is_postgres else "sqlite"
            )
        try:
            bootstrap(settings, hasher=FAST_HASHER).close()
        finally:
            if i and settings.is_postgres:
                services.drop_database(settings.database_url)
    # Only new descriptors count: earlier tests' leftovers (a collected client, a finished
    # thread) may close meanwhile, which says nothing about these containers.
    assert open_descriptors() - before == set()
