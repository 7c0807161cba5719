"""GcsSource: a Google Cloud Storage bucket read with a service-account key (or, for an
emulator, anonymously at the configured endpoint)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO, cast

import requests
from google.api_core.exceptions import GoogleAPIError
from google.api_core.retry import Retry
from google.auth.credentials import AnonymousCredentials, Credentials
from google.auth.exceptions import GoogleAuthError
from google.auth.transport.requests import AuthorizedSession, Request
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY
from google.oauth2 import service_account

from application.connectors.ports import SourceObject
from domain.connectors.endpoints import EndpointRefused
from domain.connectors.sources import SourceFailed, SourceLocation, service_account_info
from infra.connectors.guard import GuardedClients

READ_ONLY = ("https://www.googleapis.com/auth/devstorage.read_only",)
FAILURES = (GoogleAPIError, GoogleAuthError, requests.RequestException, EndpointRefused)


def gcs_failure(location: SourceLocation, exc: Exception) -> SourceFailed | EndpointRefused:
    if isinstance(exc, EndpointRefused):
        return exc
    detail = getattr(exc, "message", "") or str(exc)
    return SourceFailed(f"Google Cloud Storage answered for {location.uri}: {detail}")


class GcsSource:
    """One bucket; calls time out after `timeout` seconds and retry transient errors for at
    most twice that. With `clients`, every connection (the key's token exchange included)
    goes through the SSRF guard."""

    def __init__(
        self,
        location: SourceLocation,
        config: Mapping[str, Any],
        timeout: float = 10.0,
        clients: GuardedClients | None = None,
    ) -> None:
        self.location = location
        self.timeout = timeout
        self.retry: Retry = DEFAULT_RETRY.with_timeout(2 * timeout)
        info = service_account_info(config)
        credentials: Credentials
        if info is not None:
            try:
                credentials = service_account.Credentials.from_service_account_info(
                    info, scopes=READ_ONLY
                )
            except (ValueError, GoogleAuthError) as exc:
                raise SourceFailed(f"the service-account key cannot be used: {exc}") from None
        else:
            credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
        project = config.get("project_id") or (info or {}).get("project_id") or "tilde"
        endpoint = config.get("endpoint") or None
        http: requests.Session | None = None
        if clients is not None:
            if info is not None:
                token_exchange = Request(session=clients.session())
                http = clients.mount(AuthorizedSession(credentials, auth_request=token_exchange))
            else:
                http = clients.session()
        self.client = storage.Client(
            project=project,
            credentials=credentials,
            client_options={"api_endpoint": endpoint} if endpoint else None,
            _http=http,
        )
        self.bucket = self.client.bucket(location.bucket)

    def list(self, prefix: str, start_after: str = "") -> Iterator[SourceObject]:
        try:
            blobs = self.client.list_blobs(
                self.bucket,
                prefix=prefix,
                start_offset=start_after or None,
                timeout=self.timeout,
                retry=self.retry,
            )
            for blob in blobs:
                # `start_offset` is inclusive; GCS lists in lexicographic order.
                if start_after and blob.name <= start_after:
                    continue
                yield SourceObject(
                    key=blob.name,
                    size=int(blob.size or 0),
                    etag=str(blob.etag or ""),
                    last_modified=blob.updated,
                    content_type=blob.content_type,
                    version_id=str(blob.generation or ""),
                )
        except FAILURES as exc:
            raise gcs_failure(self.location, exc) from None

    def open(self, key: str) -> BinaryIO:
        try:
            reader = self.bucket.blob(key).open("rb", timeout=self.timeout, retry=self.retry)
        except FAILURES as exc:
            raise gcs_failure(self.location, exc) from None
        return cast(BinaryIO, reader)

    def probe(self) -> None:
        try:
            blobs = self.client.list_blobs(
                self.bucket,
                prefix=self.location.prefix,
                max_results=1,
                timeout=self.timeout,
                retry=None,
            )
            list(blobs)
        except FAILURES as exc:
            raise gcs_failure(self.location, exc) from None
