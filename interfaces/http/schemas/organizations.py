"""Organization wire models (Organization, Membership, Invitation, Group, Policy, Role, Agent)."""

from __future__ import annotations

from pydantic import Field

from interfaces.http.schemas.base import Lenient, Out, Pagination, Strict


class CreateOrgRequest(Lenient):
    name: str
    display_name: str


class NetworkSettings(Out):
    """The organization's network default for sandboxes: "allow" or "deny"."""

    egress_default: str


class AddMemberRequest(Lenient):
    username: str


class CreateInvitationRequest(Strict):
    email: str | None = None
    username: str | None = None
    group_ids: list[str] | None = None
    policy_ids: list[str] | None = None


class AnswerInvitationRequest(Lenient):
    """Optional body of accept/decline: the emailed invitation token proves the address."""

    token: str | None = None


class CreateGroupRequest(Lenient):
    name: str
    description: str | None = None


class UpdateGroupRequest(Lenient):
    name: str | None = None
    description: str | None = None


class GroupMemberRequest(Strict):
    subject_type: str
    subject_id: str


class CreatePolicyRequest(Lenient):
    name: str
    policy_text: str
    description: str | None = None


class UpdatePolicyRequest(Lenient):
    name: str | None = None
    description: str | None = None
    policy_text: str | None = None


class ValidatePolicyRequest(Strict):
    policy_text: str


class GeneratePolicyRequest(Strict):
    prompt: str = Field(max_length=4000)


class AttachmentRequest(Strict):
    principal_type: str
    principal_id: str


class CreateRoleRequest(Lenient):
    name: str
    description: str | None = None


class CreateAgentRequest(Lenient):
    name: str
    description: str | None = None
    metadata: dict[str, str] | None = None
    inline_policy: str | None = None


class UpdateAgentRequest(Lenient):
    description: str | None = None
    metadata: dict[str, str] | None = None
    inline_policy: str | None = None


class CreateKeyRequest(Lenient):
    name: str
    description: str | None = None


class Organization(Out):
    id: str
    name: str
    display_name: str
    status: str
    notes: str | None
    created_at: str


class OrganizationList(Out):
    results: list[Organization]


class NameCheck(Out):
    available: bool
    reason: str


class Membership(Out):
    organization_id: str
    user_id: str
    username: str | None = None
    full_name: str | None = None
    email: str | None = None
    joined_at: str


class MembershipList(Out):
    results: list[Membership]


class Invitation(Out):
    id: str
    organization_id: str
    email: str
    invited_by: str
    status: str
    created_at: str
    expires_at: str


class InvitationList(Out):
    results: list[Invitation]


class InvitationWithDetails(Invitation):
    organization_name: str
    organization_display_name: str
    inviter_name: str


class InvitationWithDetailsList(Out):
    results: list[InvitationWithDetails]


class Group(Out):
    id: str
    organization_id: str
    name: str
    description: str
    created_by_type: str
    created_by: str
    created_at: str


class GroupMember(Out):
    subject_type: str
    subject_id: str
    display_name: str
    username: str
    added_at: str


class AttachmentRecord(Out):
    policy_id: str
    policy_name: str
    is_builtin: bool
    principal_type: str
    principal_id: str
    principal_name: str
    attached_by_type: str
    attached_by: str
    attached_at: str


class AttachmentList(Out):
    results: list[AttachmentRecord]


class GroupWithMembers(Out):
    group: Group
    members: list[GroupMember]
    attachments: list[AttachmentRecord]


class Policy(Out):
    id: str
    organization_id: str
    name: str
    description: str
    policy_text: str
    is_builtin: bool
    created_by_type: str
    created_by: str
    created_at: str
    updated_at: str


class PolicyWithAttachments(Out):
    policy: Policy
    attachments: list[AttachmentRecord]


class ValidationError(Out):
    line: int
    column: int
    message: str


class ValidationResult(Out):
    valid: bool
    errors: list[ValidationError]


class EffectivePolicy(Out):
    policy_id: str
    policy_name: str
    is_builtin: bool
    source: str
    source_name: str


class EffectivePolicyList(Out):
    results: list[EffectivePolicy]


class EffectiveGroup(Out):
    group_id: str
    group_name: str
    description: str
    source: str
    source_name: str


class EffectiveGroupList(Out):
    results: list[EffectiveGroup]


class Role(Out):
    id: str
    organization_id: str
    name: str
    description: str
    created_by_type: str
    created_by: str
    created_by_name: str
    created_at: str
    last_used_at: str | None


class Agent(Role):
    metadata: dict[str, str]
    inline_policy: str
    inline_policy_updated_at: str | None


class GroupList(Out):
    results: list[Group]
    pagination: Pagination


class PolicySummary(Out):
    """A listed policy: no text, with how many principals it is attached to."""

    id: str
    organization_id: str
    name: str
    description: str
    is_builtin: bool
    created_at: str
    updated_at: str
    attachment_count: int


class PolicySummaryList(Out):
    results: list[PolicySummary]
    pagination: Pagination


class GeneratedPolicy(Out):
    policy_text: str


class RoleList(Out):
    results: list[Role]
    pagination: Pagination


class AgentList(Out):
    results: list[Agent]
    pagination: Pagination


class InvitationTokenCheck(Out):
    """Whether an emailed invitation token matches an address, with a hint of the invited one."""

    match: bool
    invited_email_hint: str
    organization_display_name: str
