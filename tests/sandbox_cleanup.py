"""Leak checks for sandbox tests: what an installation left in the engine and on the host.

`leftovers(runtime)` lists labelled containers, volumes, networks, disk images and mounts;
`remove_all(runtime)` removes every sandbox the installation owns. Tests end with
`assert_clean(runtime)`; the `docker_leak_check` session fixture fails the run when labelled
resources of the test installations outlive it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from application.sandboxes.ports import LABEL_INSTALLATION, Handle
from infra.docker import DockerRuntime

# Test installations' ids start with this (tests build their runtimes with it).
TEST_INSTALLATION_PREFIX = "test-"


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root.resolve()) if root.exists() else str(root)
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(prefix)]


def leftovers(runtime: DockerRuntime) -> dict[str, list[str]]:
    api = runtime.api
    label = {"label": [f"{LABEL_INSTALLATION}={runtime.installation}"]}
    disks = runtime._disks
    return {
        "containers": [c["Names"][0] for c in api.containers(all=True, filters=label)],
        "volumes": [v["Name"] for v in api.volumes(filters=label).get("Volumes") or []],
        "networks": [n["Name"] for n in api.networks(filters=label)],
        "disks": sorted(p.name for p in disks.iterdir()) if disks.is_dir() else [],
        "mounts": _mounts_under(disks),
    }


def remove_all(runtime: DockerRuntime) -> None:
    for sandbox_id in runtime.owned():
        runtime.remove(Handle(sandbox_id, runtime.engine, "", "", ""))


def assert_clean(runtime: DockerRuntime) -> None:
    left = {kind: names for kind, names in leftovers(runtime).items() if names}
    assert not left, f"sandbox resources left behind: {left}"


def _test_installation_resources(client: docker.DockerClient) -> list[str]:
    found = []
    api = client.api
    for kind, items in (
        ("container", api.containers(all=True, filters={"label": LABEL_INSTALLATION})),
        ("volume", api.volumes(filters={"label": LABEL_INSTALLATION}).get("Volumes") or []),
        ("network", api.networks(filters={"label": LABEL_INSTALLATION})),
    ):
        for item in items:
            owner = (item.get("Labels") or {}).get(LABEL_INSTALLATION, "")
            if owner.startswith(TEST_INSTALLATION_PREFIX):
                found.append(f"{kind} {item.get('Name') or item.get('Names') or item['Id']}")
    return found


@pytest.fixture(scope="session")
def docker_leak_check() -> Iterator[None]:
    """Fails the session when a test installation's labelled resources survive it."""
    yield
    client = docker.from_env(timeout=60)
    try:
        left = _test_installation_resources(client)
    finally:
        client.close()
    assert not left, f"sandbox tests leaked engine resources: {left}"
