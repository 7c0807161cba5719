"""The egress baseline (ranges no policy lifts, the operator's allowlist, the server's own
addresses) and the network statements of the policy language (`Egress(host, port, method)`)."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import cast

import pytest
from pydantic import ValidationError

from application.authz import AgentInfo, OrgSnapshot, PolicyInfo
from domain.organizations.policy_language import compile_policy, parse
from domain.sandboxes.egress import (
    AddressPolicy,
    EgressRequest,
    Verdict,
    check_operator_allow,
    decide_egress,
    parse_address,
    parse_operator_hosts,
)
from domain.shared.errors import Invalid
from infra.sandboxes.egress_proxy import EgressProxy
from infra.sandboxes.egress_wire import Refused
from infra.sandboxes.logs import SqlLogStore
from infra.settings import Settings

OWN = ["203.0.113.7", "172.17.0.1", "2001:db8::7"]
POLICY = AddressPolicy.build(OWN, ["10.99.0.0/16", "172.30.5.9"])

REFUSED = {
    "127.0.0.1": "loopback",
    "127.255.0.3": "loopback",
    "0.0.0.0": "unspecified",
    "10.0.0.1": "RFC 1918",
    "172.16.0.1": "RFC 1918",
    "172.31.255.254": "RFC 1918",
    "192.168.1.1": "RFC 1918",
    "169.254.169.254": "metadata",
    "100.64.0.1": "CGNAT",
    "100.127.255.255": "CGNAT",
    "224.0.0.1": "multicast",
    "255.255.255.255": "reserved",
    "::1": "loopback",
    "::": "unspecified",
    "fd00::1": "ULA",
    "fc12::1": "ULA",
    "fe80::1%eth0": "link-local",
    "::ffff:127.0.0.1": "loopback",  # IPv4-mapped: judged as the IPv4 it reaches
    "::ffff:169.254.169.254": "metadata",
    "64:ff9b::a9fe:a9fe": "metadata",  # NAT64 of 169.254.169.254
    "2002:7f00:1::1": "loopback",  # 6to4 of 127.0.0.1 (the connector guard's ranges)
    "2002:a00:1::1": "RFC 1918",  # 6to4 of 10.0.0.1
    "198.51.100.9": "reserved",  # documentation range
    "2001:2::1": "not globally routable",  # benchmarking (IPv6): no named range
    "203.0.113.7": "own address",
    "172.17.0.1": "own address",
    "2001:db8::7": "own address",
}
ALLOWED = ["93.184.216.34", "1.1.1.1", "2606:4700::1111", "100.63.255.255", "100.128.0.0",
           "172.15.255.255", "172.32.0.0", "10.99.3.4", "172.30.5.9"]  # fmt: skip


@pytest.mark.parametrize("address", sorted(REFUSED))
def test_the_baseline_refuses_internal_ranges_and_the_servers_own_addresses(address: str) -> None:
    parsed = parse_address(address)
    assert parsed is not None
    reason = POLICY.check_address(parsed)
    assert reason, address
    expected = REFUSED[address]
    assert expected.split()[0].lower() in reason.lower() or expected in reason, (address, reason)


def test_public_addresses_and_the_operators_ranges_pass() -> None:
    for address in ALLOWED:
        parsed = parse_address(address)
        assert parsed is not None and POLICY.check_address(parsed) == "", address
    # Next to an allowed range is still private.
    assert POLICY.check_address(ipaddress.ip_address("10.98.255.255"))
    assert POLICY.check_address(ipaddress.ip_address("172.30.5.10"))


def test_the_operator_cannot_allow_loopback_metadata_or_our_own_address() -> None:
    own = frozenset(a for a in map(parse_address, OWN) if a is not None)
    bad_entries = ["127.0.0.1", "127.0.0.0/8", "169.254.169.254/32", "169.254.0.0/16"]
    bad_entries += ["0.0.0.0/0", "::1", "fe80::/64", "::/0", "203.0.113.7", "not-an-address"]
    for bad in bad_entries:
        with pytest.raises(Invalid):
            check_operator_allow(bad, own)
    # Our own address inside an allowed range stays refused.
    policy = AddressPolicy.build(OWN, ["172.17.0.0/16"])
    assert policy.check_address(ipaddress.ip_address("172.17.0.2")) == ""
    assert policy.check_address(ipaddress.ip_address("172.17.0.1"))
    assert parse_address("example.com") is None


def verdict(
    text: str, host: str, port: int = 443, method: str = "CONNECT", default: bool = True
) -> Verdict:
    request = EgressRequest(host, port, method)
    return decide_egress(compile_policy(text), request, default_allow=default)


def test_only_one_destination_is_an_allowlist() -> None:
    only = 'Egress(host="api.openai.com", port="443")'
    assert verdict(only, "api.openai.com").allowed
    assert verdict(only, "API.OpenAI.com").allowed
    assert not verdict(only, "api.openai.com", 80, "GET").allowed
    refused = verdict(only, "example.com")
    assert not refused.allowed and "not in" in refused.reason


def test_everything_but_a_domain_and_its_subdomains() -> None:
    text = 'deny Egress(host="*.pastebin.com")\ndeny Egress(host="pastebin.com")'
    assert verdict(text, "example.com").allowed
    for host in ("pastebin.com", "www.pastebin.com", "a.b.pastebin.com"):
        denied = verdict(text, host)
        assert not denied.allowed and "line" in denied.reason, host
    assert verdict(text, "notpastebin.com").allowed


def test_an_explicit_deny_wins_and_methods_match_case_insensitively() -> None:
    text = 'Egress(host="*.example.com")\ndeny Egress(host="up.example.com", method="post")'
    assert verdict(text, "up.example.com", 80, "GET").allowed
    assert not verdict(text, "up.example.com", 80, "POST").allowed
    assert not verdict(text, "example.com", 80, "GET").allowed  # subdomains only


def test_the_organization_default_applies_when_no_network_statement_does() -> None:
    assert verdict("GetObject()", "example.com").allowed
    assert not verdict("GetObject()", "example.com", default=False).allowed
    assert verdict('Egress(host="example.com")', "example.com", default=False).allowed
    # Globs never reach Egress: the Owner policy's `*()` is not a network allowlist.
    assert verdict("*()", "example.com").allowed
    assert not verdict("*()", "example.com", default=False).allowed


def test_network_arguments_are_checked_by_the_parser() -> None:
    _, errors = parse('Egress(path="x")')
    assert errors and "does not apply" in errors[0].message
    _, errors = parse('GetObject(host="x")')
    assert errors
    assert parse('Egress(host: "a.com", port: "443", method: "GET")')[1] == []


def test_an_agent_is_bounded_by_its_creators_network_policy() -> None:
    policies = {
        "p1": PolicyInfo("p1", "only-a", False, compile_policy('Egress(host="a.com")')),
    }
    snap = OrgSnapshot(
        org_id="o", name="o", display_name="o",
        members={"u1": "t"}, roles={},
        agents={"a1": AgentInfo("a1", "bot", "user", "u1", 'Egress(host="*.com")')},
        groups={}, memberships={}, attachments={"user:u1": ["p1"]}, policies=policies,
    )  # fmt: skip
    a = EgressRequest("a.com", 443, "CONNECT")
    b = EgressRequest("b.com", 443, "CONNECT")
    assert snap.egress("user", "u1", a, True).allowed
    assert not snap.egress("user", "u1", b, True).allowed
    assert snap.egress("agent", "a1", a, True).allowed
    assert not snap.egress("agent", "a1", b, True).allowed  # its creator may not
    assert not snap.egress("user", "gone", a, True).allowed


def test_operator_pinned_host_names() -> None:
    hosts = parse_operator_hosts(
        " Mirror.Internal.=10.99.0.5, mirror.internal=10.99.0.6,pypi.test=2001:db8::1,,"
        "mirror.internal=10.99.0.5"
    )
    assert hosts == {"mirror.internal": ("10.99.0.5", "10.99.0.6"), "pypi.test": ("2001:db8::1",)}
    assert parse_operator_hosts("") == {}
    bad_entries = [
        "mirror.internal",  # no address
        "=10.0.0.1",
        "mirror.internal=",
        "mirror.internal=mirror.other",  # the value must be an address
        "10.0.0.1=10.0.0.2",  # a literal is not a name
        "bad_name.test=10.0.0.1",
        "-lead.test=10.0.0.1",
        "a..b=10.0.0.1",
        f"{'a' * 64}.test=10.0.0.1",
        ".".join(["abcdefgh"] * 30) + "=10.0.0.1",
    ]
    for bad in bad_entries:
        with pytest.raises(Invalid):
            parse_operator_hosts(bad)


class _Judge:
    def __call__(self, sandbox_id: str, request: EgressRequest) -> Verdict:
        return Verdict(True, "allowed by test")


def test_the_proxy_resolves_a_pinned_name_without_dns_and_still_checks_it() -> None:
    """A pinned name never reaches the resolver; its address passes the baseline like any
    other (a private one only when the operator allowed it)."""
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["93.184.216.34"]

    proxy = EgressProxy(
        port=3128,
        addresses=lambda: POLICY,
        judge=_Judge(),
        logs=cast(SqlLogStore, None),  # a decision writes no log line
        resolve=resolve,
        hosts=parse_operator_hosts("mirror.test=10.99.0.5,private.test=192.168.7.7"),
    )
    try:

        async def decide(host: str) -> list[str]:
            return await proxy._decide("sb", EgressRequest(host, 443, "CONNECT"), {})

        assert asyncio.run(decide("MIRROR.test.")) == ["10.99.0.5"]
        with pytest.raises(Refused) as refused:
            asyncio.run(decide("private.test"))
        assert refused.value.status == 403
        assert "private.test resolves to" in refused.value.reason
        assert asked == []
        assert asyncio.run(decide("example.com")) == ["93.184.216.34"]
        assert asked == ["example.com"]
    finally:
        proxy.shutdown()


def test_a_malformed_pinned_host_stops_the_process_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every process role reads `Settings` first: a bad entry fails there, with the entry."""
    monkeypatch.setenv("TILDE_SANDBOX_EGRESS_HOSTS", "mirror.test=10.99.0.5,pypi.test=pypi.org")
    with pytest.raises(ValidationError, match=r"'pypi.org' \(for pypi.test\) is not an IP"):
        Settings()
    monkeypatch.setenv("TILDE_SANDBOX_EGRESS_HOSTS", "mirror.test=10.99.0.5")
    assert Settings().sandbox_egress_hosts == "mirror.test=10.99.0.5"
