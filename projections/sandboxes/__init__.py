"""Read models of the sandboxes context."""
