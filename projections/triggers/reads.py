"""SqlTriggerReads: the TriggerReads port over the triggers views."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from projections.base import Reader
from projections.triggers import runs, triggers


class SqlTriggerReads:
    """Adapter for application.triggers.TriggerReads; `fold` (set by the composition root)
    folds what the views lack up to the log head."""

    def __init__(self, db: Reader, fold: Callable[[], None] | None = None) -> None:
        self.db = db
        self.fold = fold or (lambda: None)

    def catch_up(self) -> None:
        self.fold()

    def enabled_triggers(self, repository_id: str) -> list[dict[str, Any]]:
        return triggers.enabled_triggers(self.db, repository_id)

    def run_of_sandbox(self, sandbox_id: str) -> dict[str, Any] | None:
        return runs.run_of_sandbox(self.db, sandbox_id)
