"""Network policies end to end without Docker, on SQLite and PostgreSQL: the organization's
network default over HTTP (`network-settings`: any principal reads it, `UpdateNetworkSettings`
switches it, bad values are 400), and the egress judge the proxy asks — evaluated for the
sandbox's principal, cached per sandbox and re-evaluated when a policy or the default
changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.testing import TestClient

from application.sandboxes.egress import EgressJudge
from domain.sandboxes.egress import EgressRequest
from infra.bootstrap import Container
from tests.orgs import API, add_member, assert_error, attach, create_org, create_policy, person


@dataclass
class Facts:
    organization_id: str
    principal: dict[str, str]


def test_the_network_default_and_policies_drive_the_judge(
    client: TestClient[Any], container: Container
) -> None:
    owner, member = person(container), person(container)
    org = create_org(client, owner)
    o = org["name"]
    add_member(client, owner, o, member)
    settings = f"{API}/organizations/{o}/network-settings"
    assert client.get(settings, headers=member.auth).json() == {"egress_default": "allow"}
    assert_error(client.put(settings, json={"egress_default": "deny"}, headers=member.auth), 403)
    assert_error(client.put(settings, json={"egress_default": "maybe"}, headers=owner.auth), 400)

    judge = EgressJudge(
        container.authorizer, lambda sid: Facts(org["id"], {"type": "user", "id": member.id})
    )
    public = EgressRequest("example.com", 443, "CONNECT")
    paste = EgressRequest("www.pastebin.com", 443, "CONNECT")
    assert judge("s", public).allowed and judge("s", paste).allowed
    assert judge.quick("s", public) is not None  # cached for the sandbox

    # "Everything but *.pastebin.com": a deny line attached to the sandbox's principal.
    deny = create_policy(client, owner, o, 'deny Egress(host="*.pastebin.com")\n')
    attach(client, owner, o, deny["id"], "user", member.id)
    assert judge.quick("s", paste) is None  # the policy change dropped the cache
    verdict = judge("s", paste)
    assert not verdict.allowed and verdict.reason == "denied by network policy (line 1)"
    assert judge("s", public).allowed

    # Deny by default: only what a network policy allows ("only api.openai.com:443").
    switched = client.put(settings, json={"egress_default": "deny"}, headers=owner.auth)
    assert switched.status_code == 200 and switched.json() == {"egress_default": "deny"}
    assert client.get(settings, headers=member.auth).json() == {"egress_default": "deny"}
    refused = judge("s", public)
    assert not refused.allowed and "by default" in refused.reason
    only = create_policy(client, owner, o, 'Egress(host="api.openai.com", port="443")\n')
    attach(client, owner, o, only["id"], "user", member.id)
    assert judge("s", EgressRequest("api.openai.com", 443, "CONNECT")).allowed
    assert not judge("s", EgressRequest("api.openai.com", 80, "GET")).allowed
    # The owner's `*()` reaches no network action: the default applies to the owner too.
    owner_judge = EgressJudge(
        container.authorizer, lambda sid: Facts(org["id"], {"type": "user", "id": owner.id})
    )
    assert not owner_judge("t", public).allowed
