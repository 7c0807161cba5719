"""Adapters of the triggers context: the sandbox launchers."""
