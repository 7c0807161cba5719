"""Adapters (PostgreSQL/SQLite, Redis, S3, disk, Docker, crypto, mail) and the composition root."""
