"""ASGI entry point for multi-process serving (`uvicorn --factory …asgi:app_factory`)."""

from __future__ import annotations

from litestar import Litestar

from infra.logging import configure_logging
from infra.settings import Settings
from interfaces.http.app import create_app


def app_factory() -> Litestar:
    """One uvicorn worker: its settings are its parent's, passed down by environment."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app()
