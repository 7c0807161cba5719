"""Adapters (PostgreSQL/SQLite, Redis, S3, local disk, Docker, crypto, mail) and the composition root."""
