"""The triggers context: sandbox triggers, their runs, and the process that fires them."""

from __future__ import annotations

from application.triggers.app import KEEP, TriggersApplication
from application.triggers.evaluation import EVALUATE, Evaluator, TriggerEvaluation
from application.triggers.ports import (
    CommitChanges,
    LaunchRefused,
    LaunchRequest,
    SandboxLauncher,
    TriggerReads,
)

__all__ = [
    "EVALUATE",
    "KEEP",
    "CommitChanges",
    "Evaluator",
    "LaunchRefused",
    "LaunchRequest",
    "SandboxLauncher",
    "TriggerEvaluation",
    "TriggerReads",
    "TriggersApplication",
]
