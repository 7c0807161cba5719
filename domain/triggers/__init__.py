"""Sandbox triggers: the Trigger and TriggerRun aggregates and the path-matching rules."""
