"""The catalog side of a sandbox run, as the runner sees it: the staging session named after
the sandbox, and the one commit path its changes are published through."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from application.principal import Principal
from application.sandboxes.ports import Change
from domain.sandboxes.sandbox import Sandbox


@dataclass(frozen=True)
class PublishOutcome:
    """What publishing a run's changes came to."""

    kind: str  # "committed" | "no_changes" | "awaiting_approval" | "conflict"
    commit_id: str = ""
    web_url: str = ""
    conflicts: tuple[str, ...] = ()


class Publisher(Protocol):
    """Stages a run's changes into its session and commits them (the one commit path)."""

    def publish(
        self, sandbox: Sandbox, changes: Iterator[Change], principal: Principal
    ) -> PublishOutcome: ...


class SandboxSessions(Protocol):
    """The staging session of a sandbox in the catalog (its id is the sandbox's)."""

    def open(self, sandbox: Sandbox) -> None:
        """Open it at the sandbox's base (idempotent)."""
        ...

    def rollback(self, sandbox: Sandbox, reason: str) -> None: ...

    def outcome(self, sandbox: Sandbox) -> PublishOutcome | None:
        """What the session already came to (committed, awaiting approval) when a run died
        after publishing; None while it is open."""
        ...
