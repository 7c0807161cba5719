"""The triggers context: sandbox triggers, their runs, and the evaluation process that turns
commits into sandbox runs (one job worker per worker process; claims never overlap)."""

from __future__ import annotations

import json
from collections.abc import Iterator

from application.authz import Authorizer
from application.catalog import CatalogApplication
from application.triggers import EVALUATE, Evaluator, SandboxLauncher, TriggersApplication
from application.triggers.evaluation import changes_file
from infra.contexts.base import ContextParts, Shared
from infra.processes.queue import JobQueue
from infra.processes.worker import JobWorker
from infra.projections.catch_up import ViewsCatchUp
from infra.projections.manager import ProjectionManager
from infra.triggers.launcher import ServiceLauncher
from projections.catalog.changes import SqlCommitChanges
from projections.triggers.evaluation import TriggerEvaluationView
from projections.triggers.reads import SqlTriggerReads
from projections.triggers.runs import TriggerRunsView
from projections.triggers.triggers import TriggersView

PROCESS = TriggerEvaluationView.name


def build(
    shared: Shared, *, launcher: SandboxLauncher | None = None, lease: float = 30.0
) -> ContextParts:
    authorizer = shared.get("authorizer", Authorizer)
    triggers = TriggersApplication(
        shared.env("triggers"),
        factory=shared.factory,
        catalog=shared.get("catalog", CatalogApplication),
        authorizer=authorizer,
        clock=shared.clock,
        observers=[shared.saved],
    )
    reads = SqlTriggerReads(shared.db)
    commit_changes = SqlCommitChanges(shared.services["catalog_db"])

    def trigger_changes(repository_id: str, seq: int, conditions: str) -> Iterator[bytes]:
        # The sandboxes runner asks for a triggered sandbox's TILDE_TRIGGER_CHANGES file.
        return changes_file(commit_changes, repository_id, seq, json.loads(conditions))

    evaluator = Evaluator(
        triggers,
        reads,
        commit_changes,
        launcher or ServiceLauncher(shared.services),
        authorizer,
        max_depth=shared.settings.trigger_max_depth,
    )
    worker = JobWorker(
        JobQueue(shared.db, PROCESS, shared.metrics, clock=shared.clock, lease=lease),
        {EVALUATE: evaluator},
        presence=shared.locks("trigger-evaluator"),
        poll_interval=shared.settings.trigger_poll_interval,
    )
    views = [TriggersView(), TriggerRunsView()]

    def fold_views_here(manager: ProjectionManager) -> None:
        # Evaluation never misses a trigger created just before the commit, whoever runs
        # the views: this process folds what they lack itself.
        reads.fold = ViewsCatchUp([manager.runners[v.name] for v in views], shared.db)

    return ContextParts(
        applications=[triggers],
        views=[*views, TriggerEvaluationView()],
        workers=[worker],
        singletons={"trigger-evaluator": worker.presence} if worker.presence else {},
        services={
            "triggers": triggers,
            "trigger_evaluator": worker,
            "trigger_changes": trigger_changes,
        },
        attach=[fold_views_here],
    )
