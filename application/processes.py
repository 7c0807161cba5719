"""Process managers: react to events with side effects, described as jobs a worker performs.

A process manager is pure: `handle(event)` reads the event (and whatever its collaborators
read) and returns the jobs owed because of it. Workers perform them at least once; a job's id
is derived from the upstream event, so enqueuing twice (a replay) yields one job, and the
performer uses it as its idempotency key, so performing twice (a killed worker) is one effect.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class Job:
    """One side effect owed: `id` is its idempotency key, jobs of one `key` run in order."""

    id: str
    key: str
    kind: str
    payload: dict[str, Any] = field(default_factory=dict)


# Performs one job; raising means "not done, retry later". Must be idempotent per job id.
Perform = Callable[[Job], None]


class ProcessManager(ABC):
    """Turns the events it follows into jobs; never performs them itself."""

    name: ClassVar[str]
    # Application name -> the event classes of that application this process reacts to.
    follows: ClassVar[dict[str, tuple[type, ...]]] = {}

    @abstractmethod
    def handle(self, event: Any) -> Sequence[Job]:
        """The jobs `event` calls for (none is fine); deterministic per event."""

    def key_of(self, event: Any) -> str:
        """Events of one key are handled in log order (a parked one holds back its key only)."""
        return str(getattr(event, "originator_id", ""))
