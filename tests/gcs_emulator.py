"""A Google Cloud Storage emulator (`gcp-storage-emulator` from PyPI) on a loopback port, in
a child process, and a client for seeding it. Started once per test run, stopped at exit."""

from __future__ import annotations

import atexit
import subprocess
import sys

from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from tests import services

_started: dict[str, GcsEmulator] = {}


class GcsEmulator:
    """`gcp-storage-emulator start --in-memory` on a free port of 127.0.0.1."""

    def __init__(self) -> None:
        self.port = services.free_port()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gcp_storage_emulator",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--in-memory",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            services.wait_port(self.port)
        except RuntimeError:
            self.stop()
            raise RuntimeError("gcp-storage-emulator did not start: pip install it") from None
        self.url = f"http://127.0.0.1:{self.port}"
        atexit.register(self.stop)

    def client(self) -> storage.Client:
        return storage.Client(
            project="tilde-test",
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": self.url},
        )

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def gcs_emulator() -> GcsEmulator:
    """The run's emulator (started on first use)."""
    if "gcs" not in _started:
        _started["gcs"] = GcsEmulator()
    return _started["gcs"]
