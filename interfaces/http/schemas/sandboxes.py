"""Sandbox wire models: the spec's CreateSandboxRequest, Sandbox, SandboxStatusResponse."""

from __future__ import annotations

from typing import Any

from interfaces.http.schemas.base import Lenient, Out, Pagination
from interfaces.http.schemas.repositories import Days, Flag, Text

# An exact JSON integer (not "10", not true), as repository day counts are.
Seconds = Days


class RunAsIn(Lenient):
    type: Text = None
    id: Text = None


class CreateSandboxRequest(Lenient):
    """Only `image` is required; ranges and formats are the domain's to check (400 with the
    reason). The Go CLI's legacy `"interactive": true` stands for `mode: "interactive"`."""

    image: Text = None
    command: list[str] | None = None
    mountpoint: Text = None
    path_prefix: Text = None
    timeout_seconds: Seconds = None
    env_vars: dict[str, str] | None = None
    run_as: RunAsIn | None = None
    mode: Text = None
    interactive: Flag = None

    def body(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class CreateSandboxResponse(Out):
    sandbox_id: str


class SandboxMessage(Out):
    message: str


class Sandbox(Out):
    id: str
    repository_id: str
    image: str
    command: list[str]
    mountpoint: str
    path_prefix: str
    timeout_seconds: int | None
    mode: str
    env_vars: dict[str, str]
    status: str
    status_reason: str
    error_message: str
    exit_code: int | None
    commit_id: str
    web_url: str
    volume_name: str
    container_id: str
    created_by_type: str
    created_by: str
    created_at: str
    updated_at: str
    finished_at: str | None
    trigger_id: str | None
    trigger_name: str


class SandboxList(Out):
    results: list[Sandbox]
    pagination: Pagination


class SandboxStatusResponse(Out):
    status: str
    status_reason: str
    exit_code: int | None
    commit_id: str
    web_url: str
    error_message: str
