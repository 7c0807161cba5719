"""The sandboxes context: the application, its list view and run queue, the log store, and
(where an engine is configured) the worker that runs sandboxes and the janitor after it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import cast

from application.authz import Authorizer
from application.catalog import CatalogApplication
from application.organizations import OrganizationsApplication
from application.principal import Principal
from application.sandboxes.app import SandboxesApplication
from application.sandboxes.egress import EgressJudge
from application.sandboxes.network_services import NETWORK_SERVICES
from application.sandboxes.ports import (
    Change,
    ChangeCollector,
    ContainerRuntime,
    Limits,
    TreeEntry,
    TreeStore,
)
from application.sandboxes.publishing import Publisher, PublishOutcome
from application.sandboxes.queries import SandboxQueries
from application.sandboxes.runner import RunnerConfig, SandboxRunner
from application.sandboxes.sessions import CatalogSessions, approval_url
from application.secrets.ports import ENVIRONMENT_SERVICE, SandboxEnvironment
from domain.sandboxes.egress import parse_operator_hosts
from domain.sandboxes.sandbox import Sandbox
from infra.contexts.base import ContextParts, Shared, Worker
from infra.docker.network import allow_sandbox_port
from infra.docker.runtime import DockerRuntime, limits_from_settings
from infra.processes.queue import JobQueue
from infra.sandboxes.changes import OverlayChangeCollector
from infra.sandboxes.egress_proxy import EgressProxy
from infra.sandboxes.host_addresses import HostAddressPolicy
from infra.sandboxes.janitor import SandboxJanitor
from infra.sandboxes.logs import LogJanitor, SqlLogStore, janitor_interval, log_store
from infra.sandboxes.publish import SandboxPublisher
from infra.sandboxes.terminal_leases import SqlTerminalLeases
from infra.sandboxes.trees import tree_store
from infra.sandboxes.worker import SandboxWorker
from projections.sandboxes.runs import PROCESS, SandboxRunsView
from projections.sandboxes.sandboxes import SandboxesView, SqlSandboxReads

TreeEntries = Callable[[str, str, str], Iterator[TreeEntry]]


@dataclass
class SandboxAdapters:
    """The engine and data adapters a runner needs; without all of them this process runs
    no sandboxes and createSandbox answers 503."""

    runtime: ContainerRuntime | None = None
    trees: TreeStore | None = None
    entries: TreeEntries | None = None
    collector: ChangeCollector | None = None
    publisher: Publisher | None = None
    limits: Limits | None = None
    user: str = "1000:1000"
    pull_timeout: float = 60.0

    @property
    def complete(self) -> bool:
        return None not in (
            self.runtime, self.trees, self.entries, self.collector, self.publisher, self.limits
        )  # fmt: skip


class _Outcomes:
    """The runner's `Publisher` over the catalog publisher (its answer as a PublishOutcome)."""

    def __init__(self, publisher: SandboxPublisher) -> None:
        self.publisher = publisher

    def publish(
        self, sandbox: Sandbox, changes: Iterator[Change], principal: Principal
    ) -> PublishOutcome:
        out = self.publisher.publish(sandbox, changes, principal)
        return PublishOutcome(out.kind, out.commit_id, out.web_url, tuple(out.conflicts))


def default_adapters(shared: Shared) -> SandboxAdapters:
    """This host's Docker engine, the hard-link tree store over the blob store, the overlay
    change collector and the catalog publisher."""
    settings = shared.settings
    catalog = shared.get("catalog", CatalogApplication)
    organizations = shared.get("organizations", OrganizationsApplication)

    def web_url(org_id: str, repo_name: str, session_id: str) -> str:
        org_name = organizations.organization(org_id).name
        return approval_url(settings.base_url, org_name, repo_name, session_id)

    return SandboxAdapters(
        runtime=DockerRuntime.from_settings(settings),
        trees=tree_store(settings, shared.services["blobs"]),
        entries=catalog.reads.tree_entries,
        collector=OverlayChangeCollector(),
        publisher=_Outcomes(SandboxPublisher(catalog, web_url)),
        limits=limits_from_settings(settings),
        user=settings.sandbox_user,
        pull_timeout=settings.sandbox_pull_timeout_seconds,
    )


class Reachability:
    """Whether the engine answers a ping, remembered for a few seconds (create asks often)."""

    def __init__(self, runtime: ContainerRuntime | None, ttl: float = 5.0) -> None:
        self.runtime = runtime
        self.ttl = ttl
        self._checked = (0.0, False)

    def __call__(self) -> bool:
        if self.runtime is None:
            return False
        at, ok = self._checked
        now = time.monotonic()
        if now - at > (self.ttl if ok else 1.0):
            try:
                ok = bool(self.runtime.ping())
            except Exception:
                ok = False
            self._checked = (now, ok)
        return ok


def build(shared: Shared, adapters: SandboxAdapters | None = None) -> ContextParts:
    settings = shared.settings
    adapters = adapters or default_adapters(shared)
    catalog = shared.get("catalog", CatalogApplication)
    organizations = shared.get("organizations", OrganizationsApplication)
    runnable = adapters.complete
    app = SandboxesApplication(
        shared.env("sandboxes"),
        factory=shared.factory,
        repositories=catalog,
        authorizer=shared.get("authorizer", Authorizer),
        runtime_available=Reachability(adapters.runtime if runnable else None),
        default_timeout=settings.sandbox_default_timeout_seconds,
        clock=shared.clock,
        observers=[shared.saved],
    )
    logs = log_store(shared.db, settings)
    network_logs = log_store(shared.db, settings, kind="network")
    workers: list[Worker] = [
        LogJanitor(logs, janitor_interval(settings)),
        LogJanitor(network_logs, janitor_interval(settings)),
    ]
    queries = SandboxQueries(catalog, SqlSandboxReads(shared.db))
    # What workers serve each sandbox at its network's gateway; later contexts append theirs.
    network_services: list[object] = []
    services: dict[str, object] = {
        "sandboxes": app,
        "sandbox_queries": queries,
        "sandbox_logs": logs,
        # Who holds each interactive sandbox's terminal (one client at a time).
        "sandbox_terminal_leases": SqlTerminalLeases(shared.db),
        "sandbox_network_logs": network_logs,
        NETWORK_SERVICES: network_services,
    }
    closers: list[Callable[[], None]] = [logs.shutdown, network_logs.shutdown]
    if runnable and adapters.runtime is not None:
        services["sandbox_runtime"] = adapters.runtime
    if runnable and settings.sandbox_max_concurrent > 0:
        assert adapters.runtime and adapters.trees and adapters.entries and adapters.limits
        assert adapters.collector and adapters.publisher
        # The secrets context registers it when present (request env only otherwise).
        environment = cast(SandboxEnvironment | None, shared.services.get(ENVIRONMENT_SERVICE))
        runner = SandboxRunner(
            app,
            adapters.runtime,
            adapters.trees,
            adapters.entries,
            adapters.collector,
            adapters.publisher,
            CatalogSessions(
                catalog,
                settings.base_url,
                lambda org_id: organizations.organization(org_id).name,
            ),
            logs,
            RunnerConfig(
                limits=adapters.limits,
                user=adapters.user,
                pull_timeout=adapters.pull_timeout,
                scratch=settings.data_dir / "sandboxes" / "trigger-changes",
                services=shared.services,
            ),
            environment,
        )
        queue = JobQueue(shared.db, PROCESS, shared.metrics, lease=settings.sandbox_lease_seconds)
        worker = SandboxWorker(queue, runner, settings.sandbox_max_concurrent)
        workers.append(
            SandboxJanitor(adapters.runtime, app, settings.sandbox_janitor_interval_seconds)
        )
        workers.append(worker)
        services["sandbox_worker"] = worker
        if isinstance(adapters.runtime, DockerRuntime):  # bridges on this host to bind on
            proxy = egress_proxy(shared, app, network_logs)
            network_services.append(proxy)
            closers.insert(0, proxy.shutdown)
    # The tree store unmounts the views nobody holds (a re-attached run mounts its view again).
    close_trees = getattr(adapters.trees, "close", None)
    return ContextParts(
        applications=[app],
        views=[SandboxesView(), SandboxRunsView()],
        workers=workers,
        services=services,
        closers=[*closers, *([close_trees] if close_trees else [])],
    )


def egress_proxy(shared: Shared, app: SandboxesApplication, logs: SqlLogStore) -> EgressProxy:
    """The worker's egress proxy (docs/sandboxes.md): the organization's network policies for
    the sandbox's principal, then the address baseline and the operator's allowlist."""
    settings = shared.settings
    addresses = HostAddressPolicy(settings.sandbox_egress_allow.split(","))
    hosts = parse_operator_hosts(settings.sandbox_egress_hosts)
    judge = EgressJudge(shared.get("authorizer", Authorizer), app.sandbox)
    allow_sandbox_port(settings.sandbox_proxy_port)
    return EgressProxy(
        port=settings.sandbox_proxy_port,
        addresses=addresses,
        judge=judge,
        logs=logs,
        forget=judge.forget,
        hosts=hosts,
    )
