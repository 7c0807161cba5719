"""ImportQueueView: requested imports become `import` jobs in the shared process queue."""

from __future__ import annotations

from application.imports.process import ImportProcess
from projections.processes import ProcessView


class ImportQueueView(ProcessView):
    """The import process manager's jobs (never rebuilt: done jobs are performed imports)."""

    name = "imports"
    follows = ImportProcess.follows

    def __init__(self) -> None:
        super().__init__(ImportProcess())
