"""The Litestar HTTP API under /api/v1."""
