"""A worker process for the import kill test: the server's background work (projectors and
the import job worker) with the test connectors, reads slowed so a kill lands mid-import.

`python -m tests.import_worker CONNECTOR_ID BUCKET BASE LOG READY`, with the deployment's
`TILDE_*` environment.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from infra.bootstrap import bootstrap
from infra.settings import Settings
from tests.imports_sources import BotoSource, FakeConnectors, logged_open

BATCH = 5
DELAY = 0.15


def main(connector_id: str, bucket: str, base: str, log: str, ready: str) -> None:
    container = bootstrap(Settings())
    connectors = FakeConnectors()
    connectors.add(BotoSource(bucket, logged_open(Path(log), DELAY)), base, connector_id)
    container.services["connectors"] = connectors
    container.services["import_runner"].batch = BATCH
    container.start_background()
    Path(ready).touch()
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main(*sys.argv[1:6])
