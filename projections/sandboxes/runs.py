"""SandboxRunsView: the queue of sandboxes to run (one job per requested sandbox)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from application.processes import Job, ProcessManager
from domain.sandboxes.sandbox import Sandbox
from projections.processes import ProcessView

RUN = "run_sandbox"
PROCESS = "sandbox-runs"
FOLLOWS: dict[str, tuple[type, ...]] = {"sandboxes": (Sandbox.Requested,)}


class SandboxRuns(ProcessManager):
    """A requested sandbox owes one run; the job id names the sandbox, so a replay or a
    second request with the same id queues nothing new."""

    name = PROCESS
    follows = FOLLOWS

    def handle(self, event: Any) -> Sequence[Job]:
        sandbox_id = str(event.originator_id)
        return [Job(f"run:{sandbox_id}", sandbox_id, RUN, {"sandbox_id": sandbox_id})]


class SandboxRunsView(ProcessView):
    """Queued sandbox runs in `process_jobs` (workers claim them with a lease)."""

    name = PROCESS
    follows = FOLLOWS

    def __init__(self) -> None:
        super().__init__(SandboxRuns())
