"""TriggerEvaluationView: queues one `evaluate` job per commit (process-manager state: never
rebuilt, so a rebuild launches nothing again)."""

from __future__ import annotations

from application.triggers.evaluation import TriggerEvaluation
from projections.processes import ProcessView


class TriggerEvaluationView(ProcessView):
    """The trigger evaluation process's side of the catalog log."""

    name = TriggerEvaluation.name
    follows = TriggerEvaluation.follows

    def __init__(self) -> None:
        super().__init__(TriggerEvaluation())
