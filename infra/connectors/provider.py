"""CloudSources: the `SourceProvider` over S3 and GCS, with connection tests bounded in time."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from application.connectors.ports import ObjectSource
from domain.connectors.sources import SourceFailed, SourceLocation
from infra.connectors.gcs import GcsSource
from infra.connectors.s3 import S3Source


class CloudSources:
    """Builds S3 and GCS sources; `probe` answers within `test_timeout` seconds whatever the
    provider does (a credential exchange or a silent endpoint included)."""

    def __init__(self, timeout: float = 10.0, test_timeout: float = 15.0) -> None:
        self.timeout = timeout
        self.test_timeout = test_timeout
        # Probes that outlive their deadline finish here, off the request's thread.
        self._probes = ThreadPoolExecutor(max_workers=4, thread_name_prefix="connector-probe")

    def source(self, location: SourceLocation, config: Mapping[str, Any]) -> ObjectSource:
        return self._build(location, config, self.timeout)

    def probe(self, location: SourceLocation, config: Mapping[str, Any]) -> None:
        timeout = min(self.timeout, self.test_timeout)
        future = self._probes.submit(lambda: self._build(location, config, timeout).probe())
        try:
            future.result(timeout=self.test_timeout)
        except FutureTimeout:
            raise SourceFailed(
                f"{location.uri} did not answer within {self.test_timeout:g} seconds"
            ) from None

    @staticmethod
    def _build(
        location: SourceLocation, config: Mapping[str, Any], timeout: float
    ) -> S3Source | GcsSource:
        if location.type == "s3":
            return S3Source(location, config, timeout)
        return GcsSource(location, config, timeout)

    def close(self) -> None:
        self._probes.shutdown(wait=False, cancel_futures=True)
