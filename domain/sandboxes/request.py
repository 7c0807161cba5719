"""A createSandbox request, validated: image, mode, mountpoint, prefix, env, timeout, run_as."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from domain.shared.errors import Invalid

MODES = ("one-shot", "interactive", "service")
DEFAULT_MOUNTPOINT = "/sandbox"
RUN_AS_TYPES = ("agent", "role")
# A Docker reference: [registry[:port]/]name[/name…][:tag][@digest], lower-case names.
IMAGE_RE = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_ENV = 256
MAX_ENV_BYTES = 64 * 1024
MAX_ARGS = 1024
MAX_ARG_BYTES = 128 * 1024


@dataclass(frozen=True)
class RunAs:
    """The principal a sandbox runs (and commits) as."""

    type: str
    id: str


@dataclass(frozen=True)
class SandboxRequest:
    """What a sandbox runs, where its data is mounted and for how long."""

    image: str
    command: list[str] | None = None
    mountpoint: str = DEFAULT_MOUNTPOINT
    path_prefix: str = ""
    timeout_seconds: int | None = None
    env_vars: dict[str, str] = field(default_factory=dict)
    run_as: RunAs | None = None
    mode: str = "one-shot"


def check_image(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid("image is required: a Docker image reference such as python:3.12")
    if len(value) > 512 or not IMAGE_RE.match(value):
        raise Invalid(f"image '{value[:128]}' is not a valid Docker image reference")
    return value


def check_command(value: object) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
        raise Invalid("command must be an array of strings")
    if len(value) > MAX_ARGS or sum(len(a.encode()) for a in value) > MAX_ARG_BYTES:
        raise Invalid("command is too long")
    if any("\x00" in a for a in value):
        raise Invalid("command arguments cannot contain NUL characters")
    return list(value) or None


def check_mountpoint(value: object) -> str:
    if value is None or value == "":
        return DEFAULT_MOUNTPOINT
    if not isinstance(value, str) or not value.startswith("/"):
        raise Invalid("mountpoint must be an absolute path such as /sandbox")
    parts = [p for p in value.split("/") if p]
    if not parts:
        raise Invalid("mountpoint cannot be / (the container's root)")
    if any(p in (".", "..") for p in parts) or len(value) > 255 or ":" in value:
        raise Invalid(f"mountpoint '{value[:128]}' is not a valid absolute path")
    if parts[0] in ("proc", "sys", "dev", ".tilde"):
        raise Invalid(f"mountpoint cannot be under /{parts[0]}")
    return "/" + "/".join(parts)


def check_prefix(value: object) -> str:
    """A repository path prefix: '' (everything) or segments ending in '/'."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise Invalid("path_prefix must be a string")
    parts = value.strip("/").split("/")
    if value.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\x00" in value:
        raise Invalid(f"path_prefix '{value[:128]}' is not a valid repository path prefix")
    return "/".join(parts) + "/"


def check_env(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise Invalid("env_vars must be an object of string values")
    if len(value) > MAX_ENV:
        raise Invalid(f"env_vars has more than {MAX_ENV} variables")
    size = 0
    out: dict[str, str] = {}
    for key, val in value.items():
        if not isinstance(key, str) or not ENV_KEY_RE.match(key):
            raise Invalid(
                f"env_vars key '{str(key)[:64]}' is not a valid variable name"
                " (letters, digits and _, not starting with a digit)"
            )
        if not isinstance(val, str):
            raise Invalid(f"env_vars value of '{key}' must be a string")
        if "\x00" in val:
            raise Invalid(f"env_vars value of '{key}' cannot contain NUL characters")
        size += len(key) + len(val.encode())
        out[key] = val
    if size > MAX_ENV_BYTES:
        raise Invalid("env_vars is larger than 64 KiB")
    return out


def check_timeout(value: object, default: int, maximum: int) -> int:
    """Seconds in [1, maximum] (the repository's session max duration); `default` when absent."""
    if value is None:
        return min(default, maximum)
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid("timeout_seconds must be an integer")
    if value < 1:
        raise Invalid("timeout_seconds must be at least 1")
    if value > maximum:
        raise Invalid(
            f"timeout_seconds cannot exceed the repository's session max duration ({maximum} s)"
        )
    return value


def check_run_as(value: object) -> RunAs | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise Invalid('run_as must be an object {"type": "agent"|"role", "id": "<uuid>"}')
    kind, ident = value.get("type"), value.get("id")
    if kind not in RUN_AS_TYPES:
        raise Invalid('run_as.type must be "agent" or "role"')
    if not isinstance(ident, str) or not ident:
        raise Invalid("run_as.id is required")
    return RunAs(str(kind), ident)


def check_mode(mode: object, interactive: object) -> str:
    """`mode`, or the legacy CLI's `"interactive": true` when no mode is given."""
    if mode is None or mode == "":
        return "interactive" if interactive is True else "one-shot"
    if mode not in MODES:
        raise Invalid('mode must be one of "one-shot", "interactive", "service"')
    return str(mode)


def parse_request(
    body: Mapping[str, Any], *, default_timeout: int, max_timeout: int
) -> SandboxRequest:
    """A validated request from the JSON body (unknown fields are ignored)."""
    mode = check_mode(body.get("mode"), body.get("interactive"))
    run_as = check_run_as(body.get("run_as"))
    if run_as is not None and mode == "interactive":
        raise Invalid("run_as is not allowed with interactive mode")
    command = check_command(body.get("command"))
    if mode == "service":
        command = None
    elif mode == "interactive" and command is None:
        command = ["/bin/sh"]
    return SandboxRequest(
        image=check_image(body.get("image")),
        command=command,
        mountpoint=check_mountpoint(body.get("mountpoint")),
        path_prefix=check_prefix(body.get("path_prefix")),
        timeout_seconds=check_timeout(body.get("timeout_seconds"), default_timeout, max_timeout),
        env_vars=check_env(body.get("env_vars")),
        run_as=run_as,
        mode=mode,
    )
