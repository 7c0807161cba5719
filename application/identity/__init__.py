"""The identity context's Application: accounts, credentials and device logins."""

from __future__ import annotations

from application.identity.accounts import AccountCommands
from application.identity.app import IdentityBase, IdentityPolicy
from application.identity.credentials import CredentialCommands
from application.identity.device import DeviceCommands
from application.identity.sandbox_tokens import IssuedToken, SandboxTokenCommands


class IdentityApplication(
    AccountCommands, SandboxTokenCommands, CredentialCommands, DeviceCommands, IdentityBase
):
    """Users, emails, passwords, API keys, sandbox tokens, login sessions and device logins."""

    name = "identity"


__all__ = ["IdentityApplication", "IdentityPolicy", "IssuedToken"]
