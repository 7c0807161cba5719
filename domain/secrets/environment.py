"""The one rule for a sandbox's environment: request env > agent secrets > repository secrets."""

from __future__ import annotations

from collections.abc import Mapping


def resolve_environment(
    request_env: Mapping[str, str],
    agent_secrets: Mapping[str, str] | None,
    repository_secrets: Mapping[str, str],
) -> dict[str, str]:
    """The variables a sandbox sees. Agent secrets apply only when the sandbox runs as that
    agent (`agent_secrets` is None otherwise); at each level a key already set by a higher
    level is kept, never overwritten."""
    env = dict(request_env)
    for level in (agent_secrets or {}, repository_secrets):
        for key, value in level.items():
            env.setdefault(key, value)
    return env
