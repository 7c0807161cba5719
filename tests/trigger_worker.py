"""A worker process for the trigger kill tests: projectors and the trigger evaluation worker,
launching through a `DirectoryLauncher` on a folder the test watches.

`python -m tests.trigger_worker DIR` (settings from the TILDE_* environment). A launch
writes `DIR/started-<pid>`; with `DIR/hold-before` it then blocks before creating the
sandbox, with `DIR/hold-after` after creating it (a kill there is a worker that launched but
never recorded it). Sandboxes are files `DIR/sandboxes/<id>`; every call appends to `DIR/calls`.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from application.triggers.ports import LaunchRequest
from infra.bootstrap import bootstrap
from infra.settings import Settings
from tests.triggers_env import contexts_with

LEASE = 1.5


class DirectoryLauncher:
    """Sandboxes as files: creating one twice is the same sandbox (idempotent per id)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        (folder / "sandboxes").mkdir(parents=True, exist_ok=True)

    def _hold(self, name: str) -> None:
        while (self.folder / name).exists():
            time.sleep(0.02)

    def launch(self, request: LaunchRequest) -> str:
        with (self.folder / "calls").open("a") as calls:
            calls.write(f"{os.getpid()} {request.sandbox_id}\n")
        (self.folder / f"started-{os.getpid()}").touch()
        self._hold("hold-before")
        sandbox = self.folder / "sandboxes" / request.sandbox_id
        try:
            with sandbox.open("x") as f:
                f.write(request.commit_id)
        except FileExistsError:
            pass  # launched before (a killed worker): the same sandbox
        (self.folder / f"launched-{os.getpid()}").touch()
        self._hold("hold-after")
        return request.sandbox_id


def main(folder: str) -> None:
    work = Path(folder)
    settings = Settings(role="worker")
    container = bootstrap(settings, contexts=contexts_with(DirectoryLauncher(work), lease=LEASE))
    container.start_background()
    (work / f"ready-{os.getpid()}").touch()
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main(sys.argv[1])
