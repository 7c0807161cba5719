"""Connector wire models (CreateConnectorRequest, ConnectorInfo, TestConnectionResult, …)."""

from __future__ import annotations

from typing import Any, Literal

from interfaces.http.schemas.base import Lenient, Out


class CreateConnectorRequest(Lenient):
    name: str
    type: str
    source_uri: str
    config: dict[str, Any]


class TestConnectorConfigRequest(Lenient):
    type: str
    source_uri: str
    config: dict[str, Any]


class AttachConnectorRequest(Lenient):
    connector_id: str


class ConnectorInfo(Out):
    id: str
    name: str
    type: str
    source_uri: str
    display_source: str
    disabled: bool
    public_key: str | None
    created_at: str


class ConnectorList(Out):
    results: list[ConnectorInfo]


class TestConnectionResult(Out):
    status: Literal["ok"] = "ok"
