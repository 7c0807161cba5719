"""Sandbox trigger wire models (`SandboxTrigger`, `SandboxTriggerRun` and their requests).

Request fields are typed loosely on purpose: the domain checks them and says which condition
or which `sandbox_config` field is wrong, which a schema error could not."""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel

from interfaces.http.schemas.base import Lenient, Out, Pagination


class CreateSandboxTriggerRequest(Lenient):
    name: Any = None
    description: Any = None
    enabled: Any = True
    conditions: Any = None
    sandbox_config: Any = None
    run_as: Any = None


class UpdateSandboxTriggerRequest(Lenient):
    """The spec says full replacement; the SDK sends only what `update()` was given, so a
    field left out keeps its stored value."""

    name: Any = None
    description: Any = None
    conditions: Any = None
    sandbox_config: Any = None
    run_as: Any = None

    def given(self) -> dict[str, Any]:
        fields = ("name", "description", "conditions", "sandbox_config", "run_as")
        return {f: getattr(self, f) for f in fields if f in self.model_fields_set}


class PatchSandboxTriggerRequest(Lenient):
    enabled: Any = None


class SandboxTriggerCondition(Out):
    omit_none = frozenset({"prefix", "path"})

    type: str
    prefix: str | None = None
    path: str | None = None
    diff_type: str = "any"


class SandboxTriggerConfig(Out):
    omit_none = frozenset({"timeout_seconds"})

    image: str
    command: list[str]
    mountpoint: str
    path_prefix: str
    timeout_seconds: int | None = None
    env_vars: dict[str, str]


class RunAs(BaseModel):
    type: str
    id: str


class SandboxTrigger(Out):
    id: str
    repository_id: str
    name: str
    description: str
    enabled: bool
    conditions: list[SandboxTriggerCondition]
    sandbox_config: SandboxTriggerConfig
    run_as: RunAs | None
    created_by: str
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, row: dict[str, Any]) -> Self:
        return cls(
            id=row["id"],
            repository_id=row["repository_id"],
            name=row["name"],
            description=row["description"],
            enabled=row["enabled"],
            conditions=[SandboxTriggerCondition(**c) for c in row["conditions"]],
            sandbox_config=SandboxTriggerConfig(**row["sandbox_config"]),
            run_as=RunAs(**row["run_as"]) if row["run_as"] else None,
            created_by=row["created_by"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


class SandboxTriggerList(Out):
    results: list[SandboxTrigger]
    pagination: Pagination

    @classmethod
    def of(cls, page: dict[str, Any]) -> Self:
        return cls(
            results=[SandboxTrigger.of(r) for r in page["results"]],
            pagination=Pagination(**page["pagination"]),
        )


class SandboxTriggerRun(Out):
    id: str
    repository_id: str
    trigger_id: str
    commit_id: str
    status: str
    reason: str
    sandbox_id: str | None
    matched_paths: list[str]
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, row: dict[str, Any]) -> Self:
        return cls(**{k: row[k] for k in cls.model_fields})


class SandboxTriggerRunList(Out):
    results: list[SandboxTriggerRun]
    pagination: Pagination

    @classmethod
    def of(cls, page: dict[str, Any]) -> Self:
        return cls(
            results=[SandboxTriggerRun.of(r) for r in page["results"]],
            pagination=Pagination(**page["pagination"]),
        )
