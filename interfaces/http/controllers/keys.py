"""Personal API keys: create (token shown once), list, revoke."""

from __future__ import annotations

from litestar import Controller, delete, get, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from interfaces.http.deps import ContainerDep, PrincipalDep, settled
from interfaces.http.schemas.identity import (
    APIToken,
    APITokenCreated,
    APITokenList,
    CreateAPIKeyRequest,
)
from projections.identity.api_keys import list_keys


class ApiKeysController(Controller):
    """`/auth/keys`."""

    path = "/auth/keys"
    tags = ["auth"]

    @post("/", opt={"action": "CreateAPIKey"}, operation_id="createAPIKey", sync_to_thread=True)
    def create(
        self, data: JSONBody[CreateAPIKeyRequest], principal: PrincipalDep, container: ContainerDep
    ) -> APITokenCreated:
        result = container.identity.create_api_key(
            owner_type="user",
            owner_id=principal.id,
            name=data.name,
            description=data.description or "",
            actor=principal.actor,
        )
        key, token = settled(container, result)
        return APITokenCreated(
            token=token, id=str(key.id), name=key.name, description=key.description
        )

    @get("/", opt={"action": "ListAPIKeys"}, operation_id="listAPIKeys", sync_to_thread=True)
    def index(self, principal: PrincipalDep, container: ContainerDep) -> APITokenList:
        rows = list_keys(container.db, "user", principal.id)
        return APITokenList(results=[APIToken.of(r) for r in rows])

    @delete(
        "/{key_id:str}",
        opt={"action": "RevokeAPIKey"},
        operation_id="revokeAPIKey",
        status_code=HTTP_204_NO_CONTENT,
        sync_to_thread=True,
    )
    def revoke(
        self, key_id: FromPath[str], principal: PrincipalDep, container: ContainerDep
    ) -> None:
        settled(
            container,
            container.identity.revoke_api_key(
                key_id, owner_type="user", owner_id=principal.id, actor=principal.actor
            ),
        )
