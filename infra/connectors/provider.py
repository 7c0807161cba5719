"""CloudSources: the `SourceProvider` over S3 and GCS, with connection tests bounded in time
and every connection behind the SSRF guard."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from application.connectors.ports import ObjectSource
from domain.connectors.endpoints import EndpointAllowlist, EndpointRefused
from domain.connectors.sources import SourceFailed, SourceLocation, service_account_info
from infra.connectors.gcs import GcsSource
from infra.connectors.guard import EndpointGuard, GuardedClients
from infra.connectors.s3 import S3Source


class CloudSources:
    """Builds S3 and GCS sources; `probe` answers within `test_timeout` seconds whatever the
    provider does (a credential exchange or a silent endpoint included)."""

    def __init__(
        self,
        timeout: float = 10.0,
        test_timeout: float = 15.0,
        guard: EndpointGuard | None = None,
    ) -> None:
        self.timeout = timeout
        self.test_timeout = test_timeout
        # The default refuses every non-public address; tests and operators pass their own.
        self.guard = guard or EndpointGuard(EndpointAllowlist())
        self.clients = GuardedClients(self.guard)
        # Probes that outlive their deadline finish here, off the request's thread.
        self._probes = ThreadPoolExecutor(max_workers=4, thread_name_prefix="connector-probe")

    def check(self, location: SourceLocation, config: Mapping[str, Any]) -> None:
        """Refuses (`EndpointRefused`, 400) a config that names a host this server must not
        reach: the `endpoint`, and a GCS key's `token_uri`. Connections are checked again
        when made, so this is the early, clear answer, not the only line."""
        endpoint = config.get("endpoint")
        if isinstance(endpoint, str) and endpoint:
            self.guard.check_url(endpoint)
        if location.type == "gcs":
            token_uri = (service_account_info(config) or {}).get("token_uri")
            if isinstance(token_uri, str) and token_uri:
                self.guard.check_url(token_uri)

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
        except EndpointRefused as exc:
            raise SourceFailed(exc.message) from None

    def _build(
        self, location: SourceLocation, config: Mapping[str, Any], timeout: float
    ) -> S3Source | GcsSource:
        if location.type == "s3":
            return S3Source(location, config, timeout, self.clients)
        return GcsSource(location, config, timeout, self.clients)

    def close(self) -> None:
        self._probes.shutdown(wait=False, cancel_futures=True)
