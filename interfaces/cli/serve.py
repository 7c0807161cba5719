"""`tilde-server serve` and `tilde-server worker`."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import click
import uvicorn

from infra.bootstrap import bootstrap
from infra.crypto.tokens import load_or_create_secret
from infra.logging import configure_logging
from interfaces.cli.common import data_dir_option, settings_from
from interfaces.http.app import create_app


@click.command()
@click.option("--host", default=None, help="Bind address (default $TILDE_HOST or 127.0.0.1)")
@click.option("--port", type=int, default=None, help="Port (default $TILDE_PORT or 8000)")
@data_dir_option
@click.option(
    "--workers", type=int, default=1, show_default=True, help="API processes (PostgreSQL mode only)"
)
@click.option(
    "--no-background",
    is_flag=True,
    help="Serve the API only; run projectors and the outbox in `tilde-server worker`",
)
def serve(
    host: str | None, port: int | None, data_dir: Path | None, workers: int, no_background: bool
) -> None:
    """Run the API server (embedded SQLite by default; PostgreSQL with TILDE_DATABASE_URL)."""
    started = time.monotonic()
    settings = settings_from(data_dir, host=host, port=port, role="api" if no_background else None)
    if settings.role not in ("all", "api"):  # TILDE_ROLE=worker/cli means nothing to `serve`
        settings = settings.model_copy(update={"role": "all"})
    configure_logging(settings.log_level, settings.log_format)
    if workers > 1:
        if not settings.is_postgres:
            raise click.UsageError(
                "--workers > 1 needs PostgreSQL (TILDE_DATABASE_URL); "
                "the embedded SQLite mode is one process"
            )
        # uvicorn re-executes each worker, which rebuilds its settings from the environment:
        # hand it every setting (the role, flags, a secret generated once), not only a few.
        secret = settings.secret_key or load_or_create_secret(settings.data_dir / "secret.key")
        os.environ.update(settings.model_copy(update={"secret_key": secret}).to_environment())
        _banner(settings, started)
        uvicorn.run(
            "interfaces.http.asgi:app_factory",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=workers,
            log_config=None,
            access_log=False,
            server_header=False,  # see below
        )
        return
    app = create_app(bootstrap(settings))
    _banner(settings, started)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_keep_alive=30,
        # No `Server: uvicorn` on every response: it tells a scanner what runs here, and is
        # one more header each client parses (the SDK's pure-Python HTTP parser, per request).
        server_header=False,
    )
    uvicorn.Server(config).run()


def _banner(settings, started: float) -> None:  # type: ignore[no-untyped-def]
    mode = "PostgreSQL" if settings.is_postgres else f"embedded (SQLite in {settings.data_dir})"
    url = f"http://{settings.host}:{settings.port}"
    click.echo(
        f"tilde-server listening on {url}  [{mode}; ready in {time.monotonic() - started:.1f}s]\n"
        f"  API:     {url}/api/v1   health: {url}/health   metrics: {url}/metrics\n"
        "  Next:    sign up:   curl -X POST -H 'Content-Type: application/json' "
        f'{url}/api/v1/auth/signup -d \'{{"username":"alice","email":"alice@example.com",'
        '"full_name":"Alice","password":"correct-horse-battery"}\'\n'
        "           approve:   tilde-server users approve alice"
        + (f" --data-dir {settings.data_dir}" if not settings.is_postgres else "")
        + "\n"
        "           then log in, create an API key, and point the SDK at it:\n"
        f'           tilde.Client(endpoint_url="{url}", api_key="tuk-…")',
        err=True,
    )


@click.command()
@data_dir_option
def worker(data_dir: Path | None) -> None:
    """Run projectors, process managers, the email outbox and GC (no HTTP).

    Run two for high availability: the standby takes over a dead worker's locks within ~1 s."""
    settings = settings_from(data_dir, role="worker")
    configure_logging(settings.log_level, settings.log_format)
    container = bootstrap(settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    container.start_background()
    click.echo("tilde-server worker running (Ctrl-C to stop)", err=True)
    try:
        stop.wait()
    finally:
        container.close()
