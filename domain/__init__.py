"""Domain layer: aggregates, their events, value objects, domain errors and pure rules."""
