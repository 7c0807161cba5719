"""Two per-request costs of Litestar that buy this application nothing, removed at start.

Measured on the object write path (PUT object, sequential, the server's CPU per request;
docs/architecture.md, "The object write path and its costs"):

- **Dependencies.** Litestar resolves each batch of independent dependencies in an anyio
  task group, one task per dependency. Every provider here is synchronous and instant (it
  reads `request.state` or the app: `interfaces/http/deps.py`), so the group, its cancel
  scope and its tasks were pure overhead. `_resolve_in_order` resolves the same batches in the
  same order into the same kwargs and raises the same first error.
- **Sync handlers' thread hop.** `AsyncCallable` asks sniffio which event loop runs on every
  call before `run_in_executor`. This server only runs on asyncio (uvicorn), so
  `_to_thread` goes straight to `run_in_executor` on the loop's default executor, with the
  caller's context copied, exactly as Litestar's asyncio branch does.

`install()` is called by `create_app` (idempotent). If Litestar ever moves these internals the
import or the attribute check below fails at start, never silently.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from typing import Any

import litestar.utils.sync
from litestar._kwargs.cleanup import DependencyCleanupGroup
from litestar._kwargs.dependencies import resolve_dependency
from litestar._kwargs.kwargs_model import KwargsModel
from litestar.connection import ASGIConnection


async def _resolve_in_order(
    self: KwargsModel, connection: ASGIConnection[Any, Any, Any, Any], kwargs: dict[str, Any]
) -> DependencyCleanupGroup:
    cleanup_group = DependencyCleanupGroup()
    for batch in self.dependency_batches:
        for dependency in batch:
            await resolve_dependency(dependency, connection, kwargs, cleanup_group)
    return cleanup_group


async def _to_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(None, call)


def install() -> None:
    for owner, name in (
        (KwargsModel, "resolve_dependencies"),
        (litestar.utils.sync, "sync_to_thread"),
    ):
        if not hasattr(owner, name):
            raise RuntimeError(
                f"Litestar no longer has {owner.__name__}.{name}: revisit {__name__}"
            )
    KwargsModel.resolve_dependencies = _resolve_in_order  # type: ignore[method-assign]
    litestar.utils.sync.sync_to_thread = _to_thread  # type: ignore[assignment]
