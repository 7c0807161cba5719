"""Base classes for request and response models."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer


class Strict(BaseModel):
    """A request body whose schema says `additionalProperties: false`."""

    model_config = ConfigDict(extra="forbid")


class Lenient(BaseModel):
    """A request body that tolerates unknown fields (older clients send extras)."""

    model_config = ConfigDict(extra="allow")


class Out(BaseModel):
    """A response body; fields named in `omit_none` are left out instead of sent as null."""

    model_config = ConfigDict(extra="forbid")
    omit_none: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _drop_omitted(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if self.omit_none and isinstance(data, dict):
            return {k: v for k, v in data.items() if not (v is None and k in self.omit_none)}
        return data


class Pagination(Out):
    has_more: bool
    next_offset: str  # "" when there is no further page (the spec types it as a string)
    max_per_page: int
