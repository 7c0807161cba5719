"""SQL databases for read models: one small interface over SQLite and PostgreSQL."""
