"""The built-in policies every organization starts with."""

from __future__ import annotations

OWNER = "Owner"
MEMBER = "Member"
AGENT_MANAGER = "AgentManager"

OWNER_TEXT = """# Everything in the organization, including deleting it and reading its audit log.
*()
"""

MEMBER_TEXT = """# Read the organization and work with repository data.
GetOrganization()
ListMembers()
ListGroups()
GetGroup()
GetEffectiveGroups()
ListPolicies()
GetPolicy()
ValidatePolicy()
ListAttachments()
GetEffectivePolicies()
ListRoles()
GetRole()
ListAgents()
GetAgent()
CreateAgent()
ListConnectors()
GetConnector()
CreateRepository()
ListRepositories()
GetRepository()
CreateSession()
CommitSession()
RollbackSession()
ListChanges()
ListObjects()
GetObject()
PutObject()
DeleteObject()
GetCommit()
ListCommits()
DiffCommits()
RevertCommit()
ListRepositoryConnectors()
StartImport()
GetImport()
CreateSandbox()
ListSandboxes()
GetSandbox()
CancelSandbox()
ReadSandboxLogs()
ExecSandbox()
ListTriggers()
GetTrigger()
ListTriggerRuns()
"""

AGENT_MANAGER_TEXT = """# Manage the agents you created: settings, keys and secrets.
UpdateAgent(agent_owner="self")
DeleteAgent(agent_owner="self")
CreateAgentAPIKey(agent_owner="self")
ListAgentAPIKeys(agent_owner="self")
RevokeAgentAPIKey(agent_owner="self")
ManageAgentSecrets(agent_owner="self")
ReadAgentSecrets(agent_owner="self")
"""

BUILTINS = {
    OWNER: ("Full control of the organization", OWNER_TEXT),
    MEMBER: ("Read the organization and work with repository data", MEMBER_TEXT),
    AGENT_MANAGER: ("Manage the agents you created", AGENT_MANAGER_TEXT),
}
