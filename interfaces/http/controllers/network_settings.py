"""`/organizations/{organization}/network-settings`: the organization's network default for
sandboxes — "allow" public destinations no network statement names (the default), or "deny"
everything network policies do not allow (docs/policies.md, Network policies). Not in the
spec: Tilde documents the default but no call to change it."""

from __future__ import annotations

from litestar import Controller, get, put
from litestar.params import JSONBody

from interfaces.http.deps import ContainerDep, OrgDep, PrincipalDep, settled
from interfaces.http.schemas.organizations import NetworkSettings
from projections.organizations.organizations import egress_default


class NetworkSettingsController(Controller):
    """Read (any principal of the organization) and switch (`UpdateNetworkSettings`)."""

    path = "/organizations/{organization:str}/network-settings"
    tags = ["organizations"]

    @get(
        opt={"action": "GetOrganization"}, operation_id="getOrgNetworkSettings", sync_to_thread=True
    )
    def read(self, org: OrgDep, container: ContainerDep) -> NetworkSettings:
        return NetworkSettings(egress_default=egress_default(container.db, org.org_id))

    @put(
        opt={"action": "UpdateNetworkSettings"},
        operation_id="updateOrgNetworkSettings",
        sync_to_thread=True,
    )
    def update(
        self,
        data: JSONBody[NetworkSettings],
        org: OrgDep,
        principal: PrincipalDep,
        container: ContainerDep,
    ) -> NetworkSettings:
        settled(
            container,
            container.organizations.set_egress_default(org.org_id, data.egress_default, principal),
        )
        return NetworkSettings(egress_default=egress_default(container.db, org.org_id))
