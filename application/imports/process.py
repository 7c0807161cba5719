"""ImportProcess: each requested import job owes one `import` job on the workers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from application.processes import Job, ProcessManager
from domain.imports.job import ImportJob

IMPORT = "import"


class ImportProcess(ProcessManager):
    """Requested import -> one job (its id names the import, so a replay queues nothing)."""

    name = "imports"
    follows = {"imports": (ImportJob.Requested,)}

    def handle(self, event: Any) -> Sequence[Job]:
        job_id = str(event.originator_id)
        return [Job(f"import:{job_id}", job_id, IMPORT, {"job_id": job_id})]
