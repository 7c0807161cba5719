"""Read models of the triggers context: triggers, their runs, the evaluation queue."""
