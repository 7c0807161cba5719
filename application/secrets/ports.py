"""What other contexts use of the secrets context (registered as services by
`infra/contexts/secrets.py`): the envelope cipher (connectors encrypt their configs with it) and
a sandbox's environment (sandboxes and triggers)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class SecretCipher(Protocol):
    """AES-256-GCM under an organization's data key; data keys are wrapped by the key-encryption
    key, so rotating that key re-wraps data keys and never rewrites a ciphertext. `associated`
    binds a ciphertext to its owner (decrypting it under another identity fails)."""

    def encrypt(self, org_id: str, plaintext: bytes, associated: bytes) -> str: ...

    def decrypt(self, org_id: str, token: str, associated: bytes) -> bytes:
        """Raises `ValueError` when the token was not made for (org_id, associated)."""
        ...


class SandboxEnvironment(Protocol):
    def environment_for(
        self,
        org_id: str,
        repository_id: str,
        request_env: Mapping[str, str],
        agent_id: str | None,
    ) -> dict[str, str]:
        """request env > the agent's secrets (when the sandbox runs as that agent) >
        the repository's secrets; a lower level never overwrites a key set above it."""
        ...


# Service names under which `infra/contexts/secrets.py` registers them.
CIPHER_SERVICE = "secret_cipher"
ENVIRONMENT_SERVICE = "sandbox_environment"
