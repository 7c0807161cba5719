"""Adapters of the sandboxes context."""
