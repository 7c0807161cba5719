"""The catalogue of authorization actions every HTTP route declares.

An action's *scope* says what the guard checks before the handler runs:

- ``public``        no credentials needed (signup, login, health);
- ``authenticated`` any principal (user, role or agent);
- ``user``          a signed-in user acting on their own account (roles and agents are refused);
- ``admin``         a server operator (a user with the admin flag);
- ``organization``  a principal acting inside the organization named in the path;
- ``repository``    a principal acting on the repository named in the path;
- ``network``       a sandbox's outbound request, checked by the egress proxy (no route).

Organization and repository actions are the names the policy language uses; their
``resources`` are the attributes a policy line may constrain (``repository="data-*"``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Action:
    """One authorization action: its name, scope, constrainable attributes and help."""

    name: str
    scope: str
    description: str
    resources: tuple[str, ...] = ()


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
    ("ViewConsole", "Server-rendered console pages (they sign in themselves)"),
    ("TransferBlob", "Signed upload/download URLs (the signature is the credential)"),
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
    ("CreateOrganization", "Create an organization (the creator becomes its owner)"),
    ("ListMyInvitations", "List invitations addressed to the signed-in user"),
    ("AcceptInvitation", "Join an organization through an invitation"),
    ("DeclineInvitation", "Decline an invitation"),
]
_AUTHENTICATED = [
    ("ListOrganizations", "List the organizations the principal belongs to"),
    ("CheckOrganizationName", "Check whether an organization name is free"),
    ("ListAllRepositories", "List repositories across the principal's organizations"),
]
_ADMIN = [
    ("AdminListUsers", "List users of this server"),
    ("AdminApproveUser", "Approve a pending signup"),
]

_ORG = ()
_GROUP = ("group",)
_POLICY = ("policy",)
_ROLE = ("role",)
_AGENT = ("agent", "agent_owner")
_CONNECTOR = ("connector",)
_ORGANIZATION = [
    ("GetOrganization", "Read the organization", _ORG),
    ("DeleteOrganization", "Delete the organization", _ORG),
    ("ReadAuditLog", "Read the organization's audit log", _ORG),
    ("ListMembers", "List members", _ORG),
    ("AddMember", "Add an existing user as a member directly (legacy API)", _ORG),
    ("RemoveMember", "Remove a member", _ORG),
    ("CreateInvitation", "Invite someone by email or username", _ORG),
    ("ListInvitations", "List the organization's invitations", _ORG),
    ("RevokeInvitation", "Revoke a pending invitation", _ORG),
    ("CreateGroup", "Create a group", _GROUP),
    ("ListGroups", "List groups", _ORG),
    ("GetGroup", "Read a group with its members and attachments", _GROUP),
    ("UpdateGroup", "Rename or describe a group", _GROUP),
    ("DeleteGroup", "Delete a group", _GROUP),
    ("AddGroupMember", "Add a user, group, role or agent to a group", _GROUP),
    ("RemoveGroupMember", "Remove a member from a group", _GROUP),
    ("GetEffectiveGroups", "List a principal's direct and inherited groups", _ORG),
    ("CreatePolicy", "Create a policy", _POLICY),
    ("ListPolicies", "List policies", _ORG),
    ("GetPolicy", "Read a policy with its attachments", _POLICY),
    ("UpdatePolicy", "Change a policy", _POLICY),
    ("DeletePolicy", "Delete a policy", _POLICY),
    ("ValidatePolicy", "Check policy text", _ORG),
    ("GeneratePolicy", "Generate policy text from a prompt", _ORG),
    ("AttachPolicy", "Attach a policy to a principal", _POLICY),
    ("DetachPolicy", "Detach a policy from a principal", _POLICY),
    ("ListAttachments", "List every policy attachment", _ORG),
    ("GetEffectivePolicies", "List a principal's effective policies", _ORG),
    ("CreateRole", "Create a role", _ROLE),
    ("ListRoles", "List roles", _ORG),
    ("GetRole", "Read a role", _ROLE),
    ("DeleteRole", "Delete a role and revoke its keys", _ROLE),
    ("CreateRoleAPIKey", "Issue an API key for a role", _ROLE),
    ("ListRoleAPIKeys", "List a role's API keys", _ROLE),
    ("RevokeRoleAPIKey", "Revoke a role's API key", _ROLE),
    ("CreateAgent", "Create an agent", ("agent",)),
    ("ListAgents", "List agents", _ORG),
    ("GetAgent", "Read an agent", _AGENT),
    ("UpdateAgent", "Change an agent's description, metadata or inline policy", _AGENT),
    ("DeleteAgent", "Delete an agent and revoke its keys", _AGENT),
    ("CreateAgentAPIKey", "Issue an API key for an agent", _AGENT),
    ("ListAgentAPIKeys", "List an agent's API keys", _AGENT),
    ("RevokeAgentAPIKey", "Revoke an agent's API key", _AGENT),
    ("ManageAgentSecrets", "Create, update, list and delete an agent's secrets", _AGENT),
    ("ReadAgentSecrets", "Read an agent's decrypted secrets", _AGENT),
    ("CreateConnector", "Create a connector", _CONNECTOR),
    ("ListConnectors", "List connectors", _ORG),
    ("GetConnector", "Read a connector", _CONNECTOR),
    ("DeleteConnector", "Delete a connector", _CONNECTOR),
    ("TestConnector", "Test a connector's credentials", _CONNECTOR),
    ("CreateRepository", "Create a repository", ("repository",)),
    ("ListRepositories", "List the organization's repositories", _ORG),
    ("UpdateNetworkSettings", "Switch the sandboxes' network default (allow or deny)", _ORG),
]
_REPO = ("repository",)
_OBJECT = ("repository", "path")
_REPOSITORY = [
    ("GetRepository", "Read a repository", _REPO),
    ("UpdateRepository", "Change a repository's settings", _REPO),
    ("DeleteRepository", "Delete a repository", _REPO),
    ("CreateSession", "Open a staging session", _REPO),
    ("CommitSession", "Commit a session", _REPO),
    ("RollbackSession", "Discard a session", _REPO),
    ("ApproveSession", "Review and approve an agent's pending commit", _REPO),
    ("ListChanges", "List a session's staged changes", _OBJECT),
    ("ListObjects", "List objects", _OBJECT),
    ("GetObject", "Read an object (GET and HEAD)", _OBJECT),
    ("PutObject", "Stage an object upload or copy", _OBJECT),
    ("DeleteObject", "Stage an object deletion", _OBJECT),
    ("GetCommit", "Read a commit", _REPO),
    ("ListCommits", "Read the commit log", _REPO),
    ("DiffCommits", "Compare two commits or a session", _OBJECT),
    ("RevertCommit", "Revert a commit", _REPO),
    ("ManageRepositorySecrets", "Create, update, list and delete repository secrets", _REPO),
    ("ReadRepositorySecrets", "Read decrypted repository secrets", _REPO),
    ("AttachConnector", "Attach a connector to the repository", _REPO),
    ("ListRepositoryConnectors", "List the repository's connectors", _REPO),
    ("DetachConnector", "Detach a connector", _REPO),
    ("StartImport", "Start an import into the repository", _REPO),
    ("GetImport", "Read an import job", _REPO),
    ("CreateSandbox", "Start a sandbox on the repository", _REPO),
    ("ListSandboxes", "List sandboxes", _REPO),
    ("GetSandbox", "Read a sandbox and its status", _REPO),
    ("CancelSandbox", "Cancel or finish a sandbox", _REPO),
    ("ReadSandboxLogs", "Stream a sandbox's logs", _REPO),
    ("ExecSandbox", "Attach a terminal or run commands in a sandbox", _REPO),
    ("CreateTrigger", "Create a sandbox trigger", _REPO),
    ("ListTriggers", "List sandbox triggers", _REPO),
    ("GetTrigger", "Read a sandbox trigger", _REPO),
    ("UpdateTrigger", "Change or toggle a sandbox trigger", _REPO),
    ("DeleteTrigger", "Delete a sandbox trigger", _REPO),
    ("ListTriggerRuns", "List a trigger's runs", _REPO),
]

# Checked by the egress proxy for every request a sandbox makes (docs/policies.md). Action
# globs (`*()`, the Owner policy) do not reach it: network statements name it.
_NETWORK = [
    ("Egress", "An outbound HTTP(S) request from a sandbox", ("host", "port", "method")),
]

ACTIONS: dict[str, Action] = {}
for _scope, _entries in (
    ("public", _PUBLIC),
    ("user", _USER),
    ("authenticated", _AUTHENTICATED),
    ("admin", _ADMIN),
):
    for _name, _help in _entries:
        ACTIONS[_name] = Action(_name, _scope, _help)
for _scope, _scoped in (
    ("organization", _ORGANIZATION),
    ("repository", _REPOSITORY),
    ("network", _NETWORK),
):
    for _name, _help, _resources in _scoped:
        ACTIONS[_name] = Action(_name, _scope, _help, _resources)

POLICY_ACTIONS = {
    n: a for n, a in ACTIONS.items() if a.scope in ("organization", "repository", "network")
}
# What action globs expand to (`*()` grants no network access: network statements are explicit).
GLOB_ACTIONS = {n: a for n, a in POLICY_ACTIONS.items() if a.scope != "network"}


def get_action(name: str) -> Action | None:
    """The action called `name`, or None."""
    return ACTIONS.get(name)
