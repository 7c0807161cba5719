"""Policies: CRUD, validation, generation, attachments and effective policies."""

from __future__ import annotations

from litestar import Controller, MediaType, delete, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from domain.organizations.policy_language import parse
from domain.shared.errors import NotFound, Unavailable
from interfaces.http.deps import ContainerDep, OrgDep, PrincipalDep, require_named, settled
from interfaces.http.pagination import page
from interfaces.http.principals import subject_of
from interfaces.http.schemas.errors import errors
from interfaces.http.schemas.organizations import (
    AttachmentList,
    AttachmentRecord,
    AttachmentRequest,
    CreatePolicyRequest,
    EffectivePolicy,
    EffectivePolicyList,
    GeneratedPolicy,
    GeneratePolicyRequest,
    Policy,
    PolicySummaryList,
    PolicyWithAttachments,
    UpdatePolicyRequest,
    ValidatePolicyRequest,
    ValidationError,
    ValidationResult,
)
from projections.organizations.policies import attachments, get_policy, list_policies


def _policy(container: ContainerDep, org_id: str, policy_id: str) -> Policy:
    row = get_policy(container.db, org_id, policy_id)
    if row is None:
        raise NotFound("policy not found")
    return Policy(**row)


class PoliciesController(Controller):
    """`/organizations/{organization}/policies…`, `/attachments`, `/effective-policies`."""

    path = "/organizations/{organization:str}"
    tags = ["rbac"]

    @post(
        "/policies",
        opt={"action": "CreatePolicy", "body_resource": "policy"},
        operation_id="createPolicy",
        responses=errors(409),
        sync_to_thread=True,
    )
    def create(
        self,
        data: JSONBody[CreatePolicyRequest],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> Policy:
        require_named(container, principal, org, "CreatePolicy", "policy", data.name)
        result = container.organizations.create_policy(
            org.org_id,
            name=data.name,
            policy_text=data.policy_text,
            description=data.description,
            principal=principal,
        )
        return _policy(container, org.org_id, str(settled(container, result).id))

    @get(
        "/policies",
        opt={"action": "ListPolicies"},
        operation_id="listPolicies",
        sync_to_thread=True,
    )
    def index(
        self,
        org: OrgDep,
        container: ContainerDep,
        after: FromQuery[str | None] = None,
        amount: FromQuery[int | None] = None,
    ) -> PolicySummaryList:
        size = page.size(amount)
        rows = list_policies(container.db, org.org_id, after=after or "", amount=size + 1)
        return PolicySummaryList.model_validate(page.of(rows, size, key="name"))

    @post(
        "/policies:validate",
        opt={"action": "ValidatePolicy"},
        operation_id="validatePolicy",
        status_code=200,
        sync_to_thread=False,
    )
    def validate(self, data: JSONBody[ValidatePolicyRequest], org: OrgDep) -> ValidationResult:
        _, errors = parse(data.policy_text)
        return ValidationResult(
            valid=not errors,
            errors=[
                ValidationError(line=e.line, column=e.column, message=e.message) for e in errors
            ],
        )

    @post(
        "/policies:generate",
        opt={"action": "GeneratePolicy"},
        operation_id="generatePolicy",
        status_code=200,
        sync_to_thread=False,
    )
    def generate(self, data: JSONBody[GeneratePolicyRequest], org: OrgDep) -> GeneratedPolicy:
        raise Unavailable(
            "policy generation is not configured on this server: no language "
            "model backend is set up; write the policy text yourself "
            "(see docs/policies.md)",
            code="NOT_CONFIGURED",
        )

    @get(
        "/policies/{policy_id:str}",
        opt={"action": "GetPolicy"},
        operation_id="getPolicy",
        sync_to_thread=True,
    )
    def read(
        self, policy_id: FromPath[str], org: OrgDep, container: ContainerDep
    ) -> PolicyWithAttachments:
        policy = _policy(container, org.org_id, policy_id)
        return PolicyWithAttachments(
            policy=policy,
            attachments=[
                AttachmentRecord(**a) for a in attachments(container.db, org.org_id, policy_id)
            ],
        )

    @put(
        "/policies/{policy_id:str}",
        opt={"action": "UpdatePolicy"},
        operation_id="updatePolicy",
        responses=errors(409),
        sync_to_thread=True,
    )
    def update(
        self,
        policy_id: FromPath[str],
        data: JSONBody[UpdatePolicyRequest],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> Policy:
        settled(
            container,
            container.organizations.update_policy(
                org.org_id,
                policy_id,
                name=data.name,
                description=data.description,
                policy_text=data.policy_text,
                principal=principal,
            ),
        )
        return _policy(container, org.org_id, policy_id)

    @delete(
        "/policies/{policy_id:str}",
        opt={"action": "DeletePolicy"},
        operation_id="deletePolicy",
        status_code=HTTP_204_NO_CONTENT,
        sync_to_thread=True,
    )
    def remove(
        self,
        policy_id: FromPath[str],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> None:
        settled(container, container.organizations.delete_policy(org.org_id, policy_id, principal))

    @post(
        "/policies/{policy_id:str}/attachments",
        opt={"action": "AttachPolicy"},
        operation_id="attachPolicyToPrincipal",
        status_code=HTTP_201_CREATED,
        # A JSON response renders None as `null`; an empty text body is no body (nor schema).
        media_type=MediaType.TEXT,
        sync_to_thread=True,
    )
    def attach(
        self,
        policy_id: FromPath[str],
        data: JSONBody[AttachmentRequest],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> None:
        """201 with no body, as the spec says (the SDK reads none)."""
        settled(
            container,
            container.organizations.attach_policy(
                org.org_id,
                policy_id,
                principal_type=data.principal_type,
                principal_id=data.principal_id,
                principal=principal,
            ),
        )

    @delete(
        "/policies/{policy_id:str}/attachments",
        opt={"action": "DetachPolicy"},
        operation_id="detachPolicyFromPrincipal",
        status_code=HTTP_204_NO_CONTENT,
        sync_to_thread=True,
    )
    def detach(
        self,
        policy_id: FromPath[str],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
        principal_type: FromQuery[str | None] = None,
        principal_id: FromQuery[str | None] = None,
    ) -> None:
        settled(
            container,
            container.organizations.detach_policy(
                org.org_id,
                policy_id,
                principal_type=principal_type,
                principal_id=principal_id,
                principal=principal,
            ),
        )

    @get(
        "/attachments",
        opt={"action": "ListAttachments"},
        operation_id="listAllAttachments",
        sync_to_thread=True,
    )
    def all_attachments(self, org: OrgDep, container: ContainerDep) -> AttachmentList:
        return AttachmentList(
            results=[AttachmentRecord(**a) for a in attachments(container.db, org.org_id)]
        )

    @get(
        "/effective-policies",
        opt={"action": "GetEffectivePolicies"},
        operation_id="getEffectivePolicies",
        sync_to_thread=True,
    )
    def effective(
        self,
        org: OrgDep,
        principal: PrincipalDep,
        user_id: FromQuery[str | None] = None,
        principal_type: FromQuery[str | None] = None,
        principal_id: FromQuery[str | None] = None,
    ) -> EffectivePolicyList:
        kind, ident = subject_of(org, principal, user_id, principal_type, principal_id)
        return EffectivePolicyList(
            results=[EffectivePolicy(**vars(p)) for p in org.effective_policies(kind, ident)]
        )
