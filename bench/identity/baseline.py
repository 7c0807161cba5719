"""What a raw-driver baseline offers: the twin of each measured operation."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Protocol


class Writer(Protocol):
    def insert(self) -> int: ...

    def close(self) -> None: ...


class Baseline(Protocol):
    """The raw-driver twin of each measured operation."""

    label: str

    def writer(self) -> Writer: ...

    def fold(self, start: int, stop: int) -> int: ...

    def reset_view(self, position: int) -> None: ...

    def commit_watcher(self) -> contextlib.AbstractContextManager[Callable[[], float]]: ...
