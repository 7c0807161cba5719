"""API-key helpers shared by the role and agent controllers (`…/{name}/auth/keys`)."""

from __future__ import annotations

from typing import Any

from application.authz import OrgSnapshot
from domain.shared.errors import NotFound
from infra.bootstrap import Container
from interfaces.http.deps import settled
from interfaces.http.schemas.identity import APIToken, APITokenCreated, APITokenList
from interfaces.http.schemas.organizations import CreateKeyRequest
from projections.identity.api_keys import get_key, list_keys


def create_principal_key(
    container: Container,
    org: OrgSnapshot,
    kind: str,
    name: str,
    data: CreateKeyRequest,
    principal: Any,
) -> APITokenCreated:
    """Issue a key for the role or agent `name`; the token is shown only in this response."""
    result = container.organizations.create_key(
        org.org_id,
        kind,
        name,
        key_name=data.name,
        description=data.description or "",
        principal=principal,
    )
    key, token = settled(container, result)
    return APITokenCreated(token=token, id=str(key.id), name=key.name, description=key.description)


def principal_keys(container: Container, org: OrgSnapshot, kind: str, name: str) -> APITokenList:
    """The keys of the role or agent `name`."""
    owner = container.organizations.owner(org.org_id, kind, name)
    return APITokenList(
        results=[APIToken.of(r) for r in list_keys(container.db, kind, str(owner.id))]
    )


def principal_key(
    container: Container, org: OrgSnapshot, kind: str, name: str, key_id: str
) -> APIToken:
    """One key of the role or agent `name`; keys of any other owner are not found."""
    owner = container.organizations.owner(org.org_id, kind, name)
    row = get_key(container.db, key_id)
    if row is None or row["owner_type"] != kind or row["owner_id"] != str(owner.id):
        raise NotFound("API key not found")
    return APIToken.of(row)
