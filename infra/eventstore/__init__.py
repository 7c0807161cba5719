"""The event store: eventsourcing's SQLite and PostgreSQL persistence, configured from settings."""
