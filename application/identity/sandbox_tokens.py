"""Sandbox credentials: issuing the `tst-` tokens a sandbox's credentials endpoint hands out,
authenticating them as the sandbox's principal, and revoking them when the sandbox ends."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from application.base import Result
from application.identity.credentials import CredentialCommands
from application.principal import Principal
from domain.identity.sandbox_credential import PREFIX as TOKEN_PREFIX
from domain.identity.sandbox_credential import (
    SandboxCredential,
    credential_id,
    parse_sandbox_token,
)
from domain.shared.errors import Gone

# A token's principal is derived from the identity log (the credential, a user) and the
# organizations log (a role or agent): either moving drops the cached answer.
SANDBOX_TOKEN_LOGS = ("identity", "organizations")
SANDBOX_PREFIX = TOKEN_PREFIX + "-"


@dataclass(frozen=True)
class IssuedToken:
    """What the credentials endpoint answers (the token itself is never stored)."""

    access_token: str
    expires_at: datetime
    principal: Principal


class SandboxTokenCommands(CredentialCommands):
    """`tst-` tokens beside API keys: Bearer authentication tries them by their prefix."""

    def issue_sandbox_token(
        self,
        *,
        sandbox_id: str,
        organization_id: str,
        principal_type: str,
        principal_id: str,
        ttl: timedelta,
    ) -> Result[IssuedToken]:
        """A fresh token acting as the sandbox's principal; 410 once the sandbox ended."""
        principal = self.sandbox_principal(
            principal_type, principal_id, organization_id, sandbox_id
        )
        if principal is None:
            raise Gone(f"the sandbox's {principal_type} no longer exists or is inactive")
        secret = secrets.token_urlsafe(32)

        def command() -> Result[IssuedToken]:
            credential = self.find(credential_id(sandbox_id), SandboxCredential)
            if credential is None:
                credential = SandboxCredential.open(
                    sandbox_id=sandbox_id,
                    organization_id=organization_id,
                    principal_type=principal_type,
                    principal_id=principal_id,
                )
            token, expires_at = credential.issue(secret, self.clock(), ttl)
            written = self.record(credential)
            return Result(IssuedToken(token, expires_at, principal), (written,))

        return self.retrying(command)

    def revoke_sandbox_tokens(self, sandbox_id: str, reason: str = "sandbox_ended") -> Result[None]:
        """Every token of the sandbox stops authenticating (idempotent; no-op if none issued)."""

        def command() -> Result[None]:
            credential = self.find(credential_id(sandbox_id), SandboxCredential)
            if credential is None or not credential.revoke(reason):
                return Result(None)
            return Result(None, (self.record(credential),))

        return self.retrying(command)

    def sandbox_principal(
        self, principal_type: str, principal_id: str, organization_id: str, sandbox_id: str
    ) -> Principal | None:
        """The live principal a sandbox acts as (a user must be active; a role or agent must
        still exist in its organization), marked as acting through that sandbox."""
        if principal_type == "user":
            user = self.user(principal_id)
            if user is None or not user.is_active:
                return None
            found: Principal | None = self._user_principal(user, via="sandbox")
        else:
            resolve = self.owner_principal
            found = resolve(principal_type, principal_id, organization_id) if resolve else None
        return replace(found, via="sandbox", key_id="", sandbox_id=sandbox_id) if found else None

    # -- authentication -------------------------------------------------------------------
    def remembered_bearer(self, token: str) -> Principal | None:
        if not token.startswith(SANDBOX_PREFIX):
            return super().remembered_bearer(token)
        return None  # never from memory alone: see `authenticate_sandbox_token`

    def authenticate_bearer(self, token: str) -> Principal | None:
        if token.startswith(SANDBOX_PREFIX):
            return self.authenticate_sandbox_token(token)
        return super().authenticate_bearer(token)

    def remembered_sandbox_token(
        self, digest: str, generation: tuple[int, ...]
    ) -> Principal | None:
        remembered = self.sandbox_token_cache.get(digest)
        if remembered is None or remembered[0] != generation:
            return None
        _, principal, expires_at = remembered
        return principal if self.clock() < expires_at else None

    def authenticate_sandbox_token(self, token: str) -> Principal | None:
        """The principal of a live `tst-` token, or None (unknown, expired or revoked).

        The token's credential is read from the store on every request, so a revocation (the
        sandbox ended) holds at once in every process — no cache staleness bound. Only the
        principal it acts as is remembered, like API keys' owners, under the log generations
        read before resolving it, and never past the token's own expiry."""
        parsed = parse_sandbox_token(token)
        if parsed is None:
            return None
        credential = self.find(parsed.credential_id, SandboxCredential)
        if credential is None:
            return None
        expires_at = credential.expiry(parsed, self.clock())
        if expires_at is None:
            return None
        digest = hashlib.sha256(token.encode()).hexdigest()
        generation = self.log_watch.current(SANDBOX_TOKEN_LOGS)
        principal = self.remembered_sandbox_token(digest, generation)
        if principal is not None:
            return principal
        principal = self.sandbox_principal(
            credential.principal_type,
            credential.principal_id,
            credential.organization_id,
            credential.sandbox_id,
        )
        if principal is not None:
            self.sandbox_token_cache.put(digest, (generation, principal, expires_at))
        return principal
        parsed = parse_sandbox_token(token)
        if parsed is None:
            return None
        credential = self.find(parsed.credential_id, SandboxCredential)
        if credential is None:
            return None
        expires_at = credential.expiry(parsed, self.clock())
        if expires_at is None:
            return None
        principal = self.sandbox_principal(
            credential.principal_type,
            credential.principal_id,
            credential.organization_id,
            credential.sandbox_id,
        )
        if principal is not None:
            self.sandbox_token_cache.put(digest, (generation, principal, expires_at))
        return principal
