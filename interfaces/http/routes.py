"""Every controller the app serves, grouped by context: a new context adds its line here."""

from __future__ import annotations

from typing import Any

from interfaces.console.account import AccountPagesController
from interfaces.console.approval import ApprovalController
from interfaces.console.signin import ConsoleController
from interfaces.http.controllers.admin import AdminController
from interfaces.http.controllers.agents import AgentsController
from interfaces.http.controllers.audit import AuditController
from interfaces.http.controllers.auth import AuthController
from interfaces.http.controllers.blobs import BlobsController
from interfaces.http.controllers.commits import CommitsController
from interfaces.http.controllers.connectors import (
    ConnectorsController,
    RepositoryConnectorsController,
)
from interfaces.http.controllers.device import DeviceController
from interfaces.http.controllers.groups import GroupsController
from interfaces.http.controllers.imports import ImportsController
from interfaces.http.controllers.invitations import (
    InvitationTokenController,
    MyInvitationsController,
    OrgInvitationsController,
)
from interfaces.http.controllers.keys import ApiKeysController
from interfaces.http.controllers.me import MeController
from interfaces.http.controllers.network_settings import NetworkSettingsController
from interfaces.http.controllers.object_reads import ObjectReadsController
from interfaces.http.controllers.objects import ObjectsController
from interfaces.http.controllers.organizations import OrganizationsController
from interfaces.http.controllers.policies import PoliciesController
from interfaces.http.controllers.repositories import (
    AllRepositoriesController,
    RepositoriesController,
)
from interfaces.http.controllers.roles import RolesController
from interfaces.http.controllers.sandbox_exec import SandboxExecController
from interfaces.http.controllers.sandbox_logs import SandboxLogsController
from interfaces.http.controllers.sandbox_terminal import SandboxTerminalController
from interfaces.http.controllers.sandboxes import SandboxesController
from interfaces.http.controllers.secrets import (
    AgentSecretsController,
    RepositorySecretsController,
)
from interfaces.http.controllers.sessions import SessionsController
from interfaces.http.controllers.system import SystemController
from interfaces.http.controllers.triggers import TriggersController

IDENTITY: list[Any] = [
    AuthController,
    MeController,
    ApiKeysController,
    DeviceController,
    AdminController,
]
ORGANIZATIONS: list[Any] = [
    OrganizationsController,
    NetworkSettingsController,
    OrgInvitationsController,
    MyInvitationsController,
    InvitationTokenController,
    GroupsController,
    PoliciesController,
    RolesController,
    AgentsController,
    AuditController,
]
CATALOG: list[Any] = [
    RepositoriesController,
    AllRepositoriesController,
    SessionsController,
    ObjectsController,
    ObjectReadsController,
    CommitsController,
]
TRIGGERS: list[Any] = [TriggersController]
CONNECTORS: list[Any] = [ConnectorsController, RepositoryConnectorsController]
IMPORTS: list[Any] = [ImportsController]
SECRETS: list[Any] = [RepositorySecretsController, AgentSecretsController]
SANDBOXES: list[Any] = [SandboxesController]
# A running sandbox's output, its `/exec` children and its terminal.
SANDBOX_IO: list[Any] = [SandboxLogsController, SandboxExecController, SandboxTerminalController]

# Served under /api/v1, in this order: one entry per context.
API_CONTROLLERS: list[Any] = [
    *IDENTITY,
    *ORGANIZATIONS,
    *CATALOG,
    *TRIGGERS,
    *CONNECTORS,
    *IMPORTS,
    *SECRETS,
    *SANDBOXES,
    *SANDBOX_IO,
]

# Served at the root: health and metrics, blob transfers, the web console.
ROOT_CONTROLLERS: list[Any] = [
    SystemController,
    BlobsController,
    ConsoleController,
    ApprovalController,
    AccountPagesController,
]
