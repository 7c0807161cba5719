"""The catalogue of authorization actions every HTTP route declares.

An action's *scope* says what the guard checks before the handler runs:

- ``public``        no credentials needed (signup, login, health);
- ``authenticated`` any principal (user, role or agent);
- ``user``          a signed-in user acting on their own account (roles and agents are refused);
- ``admin``         a server operator (a user with the admin flag);
- ``organization``  a principal acting inside the organization named in the path;
- ``repository``    a principal acting on the repository named in the path.

Organization and repository actions are the names the policy language uses.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Action:
    """One authorization action: its name, scope and a line of help."""

    name: str
    scope: str
    description: str


_PUBLIC = [
    ("Signup", "Create a user account"),
    ("Login", "Sign in with a username or email and a password"),
    ("ForgotPassword", "Ask for a password reset email"),
    ("ResetPassword", "Set a new password with a reset token"),
    ("CheckPasswordStrength", "Score a candidate password"),
    ("CheckUsername", "Check whether a username is free"),
    ("VerifyEmail", "Confirm an email address with the emailed token"),
    ("ListOAuthProviders", "List configured OAuth providers"),
    ("StartOAuth", "Begin an OAuth sign-in"),
    ("FinishOAuth", "Complete an OAuth sign-in"),
    ("RequestDeviceCode", "Start the CLI device login flow"),
    ("PollDeviceToken", "Poll the device login flow for a token"),
    ("ValidateInvitationToken", "Check an invitation token against an email"),
    ("GetHealth", "Health check"),
    ("GetMetrics", "Prometheus metrics"),
    ("GetOpenAPI", "The OpenAPI document of this server"),
]
_USER = [
    ("Logout", "End the current browser session"),
    ("GetCurrentUser", "Read the signed-in user and their organizations"),
    ("UpdateCurrentUser", "Edit the signed-in user's profile"),
    ("DeleteCurrentUser", "Delete the signed-in user's account"),
    ("SetCurrentUserPassword", "Change the signed-in user's password"),
    ("ListIdentities", "List linked OAuth identities"),
    ("UnlinkIdentity", "Unlink an OAuth identity"),
    ("LinkOAuthIdentity", "Link an OAuth identity"),
    ("AddEmail", "Add a secondary email"),
    ("ListEmails", "List the signed-in user's emails"),
    ("CreateAPIKey", "Create a personal API key"),
    ("ListAPIKeys", "List personal API keys"),
    ("RevokeAPIKey", "Revoke a personal API key"),
    ("ConfirmDevice", "Approve a CLI device login"),
    ("SearchUsers", "Search users by username prefix"),
]
_ADMIN = [
    ("AdminListUsers", "List users of this server"),
    ("AdminApproveUser", "Approve a pending signup"),
]

ACTIONS: dict[str, Action] = {}
for _scope, _entries in (("public", _PUBLIC), ("user", _USER), ("admin", _ADMIN)):
    for _name, _help in _entries:
        ACTIONS[_name] = Action(_name, _scope, _help)


def get_action(name: str) -> Action | None:
    """The action called `name`, or None."""
    return ACTIONS.get(name)
