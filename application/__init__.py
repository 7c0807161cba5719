"""Application layer: one eventsourcing Application per bounded context, ports, authorization."""
