"""SecretsEnvironment (SandboxEnvironment port): the variables a new sandbox starts with."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from application.secrets.app import SecretsApplication
from domain.secrets.environment import resolve_environment
from domain.secrets.rules import AGENT, REPOSITORY

# (organization id, scope, repository or agent id) -> the keys of its live secrets.
KeysOf = Callable[[str, str, str], list[str]]


class SecretsEnvironment:
    """Decrypts the repository's (and, when the sandbox runs as an agent, the agent's) secrets
    and applies the one precedence rule (`domain.secrets.environment`)."""

    def __init__(self, secrets: SecretsApplication, keys_of: KeysOf) -> None:
        self.secrets = secrets
        self.keys_of = keys_of

    def _level(self, org_id: str, scope: str, scope_id: str) -> dict[str, str]:
        keys = self.keys_of(org_id, scope, scope_id)
        return self.secrets.values(org_id, scope, scope_id, keys)

    def environment_for(
        self,
        org_id: str,
        repository_id: str,
        request_env: Mapping[str, str],
        agent_id: str | None,
    ) -> dict[str, str]:
        agent = self._level(org_id, AGENT, agent_id) if agent_id else None
        return resolve_environment(
            request_env, agent, self._level(org_id, REPOSITORY, repository_id)
        )
