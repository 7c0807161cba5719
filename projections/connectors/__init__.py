"""Read models of the connectors context."""
