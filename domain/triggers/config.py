"""What a trigger launches: `sandbox_config`, checked like a createSandbox body (no `mode`,
no `run_as`: a triggered sandbox is one-shot and runs as the trigger's `run_as`)."""

from __future__ import annotations

import re
from typing import Any

from domain.catalog.paths import check_prefix
from domain.shared.errors import Invalid

CONFIG_FIELDS = ("image", "command", "mountpoint", "path_prefix", "timeout_seconds", "env_vars")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
RUN_AS_TYPES = ("agent", "role")


def _where(field: str) -> str:
    return f"sandbox_config.{field}"


def check_sandbox_config(value: object) -> dict[str, Any]:
    """The normalized config, or `Invalid` naming the field that is wrong."""
    if not isinstance(value, dict):
        raise Invalid("sandbox_config must be an object with at least an image")
    for refused in ("mode", "run_as"):
        if refused in value:
            raise Invalid(
                f"{_where(refused)} is not allowed: a triggered sandbox is one-shot and "
                "runs as the trigger's run_as"
            )
    unknown = sorted(set(value) - set(CONFIG_FIELDS))
    if unknown:
        raise Invalid(f"sandbox_config has unknown fields: {', '.join(unknown)}")
    image = value.get("image")
    if not isinstance(image, str) or not image.strip() or len(image) > 512:
        raise Invalid(f"{_where('image')} is required (a Docker image reference)")
    if any(c.isspace() or ord(c) < 32 for c in image):
        raise Invalid(f"{_where('image')} must not contain spaces or control characters")
    command = value.get("command") or []
    if not isinstance(command, list) or not all(isinstance(c, str) for c in command):
        raise Invalid(f"{_where('command')} must be a list of strings")
    mountpoint = value.get("mountpoint") or "/sandbox"
    if not isinstance(mountpoint, str) or not mountpoint.startswith("/") or mountpoint == "/":
        raise Invalid(f"{_where('mountpoint')} must be an absolute path other than '/'")
    if ".." in mountpoint.split("/") or any(ord(c) < 32 for c in mountpoint):
        raise Invalid(f"{_where('mountpoint')} must not contain '..' or control characters")
    try:
        path_prefix = check_prefix(value.get("path_prefix") or "")
    except Invalid as e:
        raise Invalid(f"{_where('path_prefix')}: {e.message}") from None
    timeout = value.get("timeout_seconds")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int)):
        raise Invalid(f"{_where('timeout_seconds')} must be an integer")
    if timeout is not None and timeout < 1:
        raise Invalid(f"{_where('timeout_seconds')} must be at least 1")
    env = value.get("env_vars") or {}
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise Invalid(f"{_where('env_vars')} must be an object of string values")
    for key in env:
        if not _ENV_NAME.match(key):
            raise Invalid(f"{_where('env_vars')}: '{key[:64]}' is not a valid variable name")
        if key.startswith("TILDE_"):
            raise Invalid(f"{_where('env_vars')}: '{key}' is reserved (TILDE_ variables are set)")
    return {
        "image": image,
        "command": list(command),
        "mountpoint": mountpoint,
        "path_prefix": path_prefix,
        "timeout_seconds": timeout,
        "env_vars": dict(env),
    }


def check_run_as(value: object) -> dict[str, str] | None:
    """`{"type": "agent"|"role", "id": uuid}` or None."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise Invalid("run_as must be an object {type, id}")
    kind, ident = value.get("type"), value.get("id")
    if kind not in RUN_AS_TYPES:
        raise Invalid("run_as.type must be 'agent' or 'role'")
    if not isinstance(ident, str) or not ident:
        raise Invalid("run_as.id is required")
    return {"type": str(kind), "id": ident}
