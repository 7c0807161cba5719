"""Helpers shared by the import tests: start a job over raw HTTP and wait for its end."""

from __future__ import annotations

import time
from typing import Any

from tests.catalog_helpers import Repo

FINISHED = ("completed", "failed", "canceled")


def start_import(repo: Repo, body: dict[str, Any], auth: dict[str, str] | None = None) -> Any:
    return repo.http.post(f"{repo.base}/import", json=body, headers=auth or repo.auth)


def started(repo: Repo, body: dict[str, Any]) -> str:
    response = start_import(repo, body)
    assert response.status_code == 202, response.text
    assert set(response.json()) == {"job_id"}
    return str(response.json()["job_id"])


def job_status(repo: Repo, job_id: str) -> dict[str, Any]:
    response = repo.http.get(f"{repo.base}/import/{job_id}", headers=repo.auth)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def wait_job(repo: Repo, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """The job's status once it has finished (fails the test past `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        status = job_status(repo, job_id)
        if status["status"] in FINISHED:
            return status
        assert time.monotonic() < deadline, f"import still {status['status']}: {status}"
        time.sleep(0.05)
