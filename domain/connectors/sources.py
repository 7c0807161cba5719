"""Connector types, source URIs (`s3://bucket/prefix/`, `gs://bucket/prefix/`) and the rules
their configs follow."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from domain.shared.errors import BadGateway, Invalid

# What this server can read; the spec also names these, which it refuses clearly for now.
SUPPORTED_TYPES = ("s3", "gcs")
LATER_TYPES = ("git", "google_drive")
SCHEMES = {"s3": "s3", "gcs": "gs"}
MAX_URI = 1024
MAX_CONFIG_BYTES = 64 * 1024
DEFAULT_REGION = "us-east-1"

# S3 (and S3-compatible) bucket names; GCS also allows '_' and dotted names up to 222.
_BUCKET = {
    "s3": re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"),
    "gcs": re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$"),
}


class SourceFailed(BadGateway):
    """The provider refused or did not answer a listing (bad credentials, missing bucket,
    unreachable endpoint); the message quotes the provider's error."""

    code = "SOURCE_FAILED"


@dataclass(frozen=True)
class SourceLocation:
    """Where a connector reads: its type, bucket and key prefix ('' or ending with '/')."""

    type: str
    bucket: str
    prefix: str

    @property
    def uri(self) -> str:
        return f"{SCHEMES[self.type]}://{self.bucket}/{self.prefix}"


def check_type(value: object) -> str:
    if value in LATER_TYPES:
        raise Invalid(
            f"connector type '{value}' is not supported by this server (supported: "
            f"{', '.join(SUPPORTED_TYPES)})"
        )
    if not isinstance(value, str) or value not in SUPPORTED_TYPES:
        known = ", ".join((*SUPPORTED_TYPES, *LATER_TYPES))
        raise Invalid(f"type must be one of {known}")
    return value


def parse_source_uri(kind: str, value: object) -> SourceLocation:
    """The location a `source_uri` names; a prefix without a trailing '/' is a directory."""
    scheme = SCHEMES[kind]
    example = f"{scheme}://bucket/prefix/"
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"source_uri is required (e.g. {example})")
    if len(value) > MAX_URI or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise Invalid(f"source_uri must be at most {MAX_URI} printable characters")
    parts = urlsplit(value)
    if parts.scheme != scheme or not parts.netloc:
        raise Invalid(f"a {kind} connector's source_uri must look like {example}")
    if parts.query or parts.fragment or "?" in value or "#" in value:
        raise Invalid("source_uri must not have a query or a fragment")
    bucket = parts.netloc
    if not _BUCKET[kind].match(bucket) or ".." in bucket:
        raise Invalid(f"'{bucket}' is not a valid {kind} bucket name")
    prefix = parts.path.lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    segments = prefix.split("/")[:-1]
    if parts.path.startswith("//") or any(s in ("", ".", "..") for s in segments):
        raise Invalid("source_uri's prefix must not have empty, '.' or '..' segments")
    return SourceLocation(kind, bucket, prefix)


def _string(config: Mapping[str, Any], key: str, *, required: bool = False) -> str:
    value = config.get(key)
    if value is None or value == "":
        if required:
            raise Invalid(f"config.{key} is required")
        return ""
    if not isinstance(value, str):
        raise Invalid(f"config.{key} must be a string")
    return value


def _endpoint(config: Mapping[str, Any]) -> str:
    endpoint = _string(config, "endpoint")
    if endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise Invalid("config.endpoint must be an http(s) URL")
    return endpoint


def service_account_info(config: Mapping[str, Any]) -> dict[str, Any] | None:
    """The service-account key of a gcs config (a JSON object or its text), if any."""
    raw = config.get("service_account_json")
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise Invalid("config.service_account_json is not valid JSON") from None
    if not isinstance(raw, dict) or not all(
        isinstance(raw.get(k), str) and raw.get(k) for k in ("client_email", "private_key")
    ):
        raise Invalid(
            "config.service_account_json must be a service-account key (with client_email "
            "and private_key)"
        )
    return raw


def check_config(kind: str, value: object) -> dict[str, Any]:
    """A config the type's adapter can use (unknown keys are kept). Credentials are required:
    the server never falls back to its own (environment or metadata) credentials."""
    if not isinstance(value, dict):
        raise Invalid("config must be an object")
    try:
        size = len(json.dumps(value))
    except (TypeError, ValueError):
        raise Invalid("config must be a JSON object") from None
    if size > MAX_CONFIG_BYTES:
        raise Invalid(f"config must be at most {MAX_CONFIG_BYTES} bytes of JSON")
    config = dict(value)
    _endpoint(config)
    if kind == "s3":
        _string(config, "access_key_id", required=True)
        _string(config, "secret_access_key", required=True)
        _string(config, "session_token")
        config["region"] = _string(config, "region") or DEFAULT_REGION
    elif kind == "gcs":
        _string(config, "project_id")
        if service_account_info(config) is None and not config.get("endpoint"):
            raise Invalid(
                "a gcs connector needs config.service_account_json (a service-account key) "
                "or config.endpoint (an emulator)"
            )
    return config
