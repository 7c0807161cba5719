"""Ports of the triggers context: launching a sandbox, reading a commit's changes, reading
the triggers and runs views."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from domain.triggers.conditions import Change, ChangeLookup


class LaunchRefused(Exception):
    """The sandbox cannot be launched and trying again will not help (the run fails with
    this reason): the image is refused, the repository is gone, no runtime is configured."""


@dataclass(frozen=True)
class LaunchRequest:
    """A sandbox a trigger run owes. `sandbox_id` is chosen by the caller (derived from the
    trigger and the commit): launching twice after a crash names the same sandbox, so the
    sandboxes service answers the first one instead of starting a second."""

    sandbox_id: str
    organization_id: str
    repository_id: str
    repository_name: str
    trigger_id: str
    trigger_name: str
    run_id: str
    # The tree mounted is the one at this commit, not the head when the sandbox starts.
    commit_id: str
    commit_seq: int
    # Who the sandbox runs as: `run_as` ({type, id}) when set, else the trigger's creator.
    principal_type: str
    principal_id: str
    # The trigger's creator (who asks for the sandbox) and its `run_as`, as stored.
    creator_type: str
    creator_id: str
    run_as: Mapping[str, str] | None
    image: str
    command: Sequence[str]
    mountpoint: str
    path_prefix: str
    timeout_seconds: int | None
    env_vars: Mapping[str, str]
    # TILDE_TRIGGER_ID, TILDE_TRIGGER_NAME, TILDE_COMMIT_ID (merged under env_vars' keys).
    trigger_env: Mapping[str, str] = field(default_factory=dict)
    # The matched changes (path, change, size), for the read-only NDJSON file outside the
    # mount that TILDE_TRIGGER_CHANGES names; streamed, a 100k-path match is never a list.
    changes: Callable[[], Iterator[Change]] | None = None
    # The trigger's conditions as stored: the sandbox's runner streams the changes file from
    # them and the commit (wherever it runs), never from state kept by the launcher.
    conditions: Sequence[Mapping[str, Any]] = ()

    def changes_ndjson(self) -> Iterator[bytes]:
        """The TILDE_TRIGGER_CHANGES file's lines."""
        import json

        for change in self.changes() if self.changes is not None else ():
            row = {"path": change.path, "change": change.change, "size": change.size}
            yield (json.dumps(row, ensure_ascii=False) + "\n").encode()


class SandboxLauncher(Protocol):
    """Starts the sandbox a trigger run owes (the sandboxes context's create path)."""

    def launch(self, request: LaunchRequest) -> str:
        """The sandbox's id. Idempotent per `request.sandbox_id`; raises `LaunchRefused` for
        a permanent refusal, anything else for "not now, try again"."""
        ...


class CommitChanges(Protocol):
    """The catalog's per-commit changes, by lookups (never a scan of the commit)."""

    def lookup(self, repository_id: str, seq: int) -> ChangeLookup: ...

    def commit_seq(self, repository_id: str, commit_id: str) -> int | None: ...


class TriggerReads(Protocol):
    """What evaluation reads from the triggers' views (folded up to the log head first)."""

    def catch_up(self) -> None:
        """Bring the views up to the triggers log's current head."""
        ...

    def enabled_triggers(self, repository_id: str) -> list[dict[str, Any]]:
        """The repository's enabled triggers (view rows, JSON columns decoded)."""
        ...

    def run_of_sandbox(self, sandbox_id: str) -> dict[str, Any] | None:
        """The run that launched `sandbox_id` (trigger_id, depth), if a trigger did."""
        ...
