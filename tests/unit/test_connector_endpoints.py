"""The connector SSRF guard's decision (domain/connectors/endpoints.py) over the ranges it
refuses, the operator's allowlist and the server's own addresses; and the guard's resolve-once
connect (infra/connectors/guard.py) with a fake resolver."""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import Any

import pytest

from domain.connectors.endpoints import (
    EndpointPolicy,
    EndpointRefused,
    parse_allowlist,
)
from domain.shared.addresses import non_public_range
from infra.connectors.guard import EndpointGuard

ip = ipaddress.ip_address

REFUSED = {
    "127.0.0.1": "loopback",
    "127.255.0.9": "loopback",
    "::1": "loopback",
    "10.1.2.3": "private (RFC 1918)",
    "172.16.0.1": "private (RFC 1918)",
    "172.31.255.254": "private (RFC 1918)",
    "192.168.1.1": "private (RFC 1918)",
    "169.254.169.254": "cloud metadata (link-local)",
    "fd00:ec2::254": "cloud metadata (link-local)",
    "169.254.10.1": "link-local",
    "fe80::1": "link-local",
    "100.64.0.1": "shared address space (CGNAT)",
    "100.127.255.254": "shared address space (CGNAT)",
    "fc00::1": "unique local (IPv6 ULA)",
    "fd12:3456::1": "unique local (IPv6 ULA)",
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "224.0.0.1": "multicast",
    "240.0.0.1": "reserved",
    "255.255.255.255": "reserved",
    # IPv6 forms that carry an IPv4 address reach that address.
    "::ffff:127.0.0.1": "loopback",
    "::ffff:169.254.169.254": "cloud metadata (link-local)",
    "64:ff9b::a9fe:a9fe": "cloud metadata (link-local)",
    "2002:0a00:0001::1": "private (RFC 1918)",
}
PUBLIC = ["8.8.8.8", "172.32.0.1", "100.128.0.1", "52.216.0.1", "2607:f8b0::200e", "::ffff:8.8.8.8"]


def test_every_non_public_range_is_refused_by_name_and_public_addresses_are_not() -> None:
    policy = EndpointPolicy()
    for text, label in REFUSED.items():
        assert non_public_range(ip(text)) == label, text
        assert label in policy.refusal(text, ip(text)), text
    for text in PUBLIC:
        assert non_public_range(ip(text)) == "", text
        assert policy.refusal("s3.example.com", ip(text)) == "", text


def test_the_allowlist_lifts_hosts_and_cidrs_and_own_addresses_are_refused() -> None:
    allow = parse_allowlist(" minio.internal., 10.20.0.0/16 ; [::1] ,127.0.0.1")
    own = frozenset({ip("52.1.2.3"), ip("2600::5")})
    policy = EndpointPolicy(allow, own)
    assert policy.refusal("MINIO.internal", ip("192.168.9.9")) == ""  # by name, any address
    assert policy.refusal("x", ip("10.20.255.1")) == ""
    assert "private" in policy.refusal("x", ip("10.21.0.1"))
    assert policy.refusal("x", ip("::1")) == "" and policy.refusal("x", ip("127.0.0.1")) == ""
    assert "loopback" in policy.refusal("x", ip("127.0.0.2"))
    assert policy.refusal("api.example", ip("52.1.2.3")).endswith("an address of this server")
    assert "this server" in policy.refusal("x", ip("::ffff:52.1.2.3"))
    assert "this server" in policy.refusal("x", ip("2600::5"))
    # One refused answer among public ones refuses the name; no answer is refused too.
    with pytest.raises(EndpointRefused, match=re.escape("'mixed' resolves to 10.0.0.1, a private")):
        policy.check("mixed", [ip("8.8.8.8"), ip("10.0.0.1")])
    with pytest.raises(EndpointRefused, match=re.escape("does not resolve")):
        policy.check("empty", [])
    assert policy.check("ok", [ip("8.8.4.4")]) == [ip("8.8.4.4")]
    for bad in ("http://x", "a b", "user@host"):
        with pytest.raises(ValueError):
            parse_allowlist(bad)


def test_the_guard_resolves_once_and_connects_to_the_address_it_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = {"rebind.test": [["8.8.8.8"], ["127.0.0.1"]], "localhost.test": [["127.0.0.1"]]}
    asked: list[str] = []

    def resolver(host: str, port: int) -> list[Any]:
        asked.append(host)
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [ip(a) for a in answers[host].pop(0)]

    connected: list[tuple[str, int]] = []
    monkeypatch.setattr(
        "infra.connectors.guard.create_connection",
        lambda address, *args: connected.append(address) or socket.socket(),
    )
    guard = EndpointGuard(parse_allowlist(""), own_hosts=["tilde.example"], resolver=resolver)
    guard.connect("rebind.test", 443, 5.0).close()
    assert connected == [("8.8.8.8", 443)]  # the checked literal, never the name
    rebound = re.escape("'rebind.test' resolves to 127.0.0.1, a loopback")
    with pytest.raises(EndpointRefused, match=rebound):
        guard.connect("rebind.test", 443, 5.0)  # the next answer is checked again
    with pytest.raises(EndpointRefused, match=re.escape("'localhost.test' resolves to 127.0.0.1")):
        guard.check_url("http://localhost.test:9000/")
    with pytest.raises(EndpointRefused, match=re.escape("169.254.169.254, a cloud metadata")):
        guard.check_url("http://169.254.169.254/latest/meta-data/")
    with pytest.raises(EndpointRefused, match=re.escape("'nowhere.test' does not resolve")):
        guard.check_url("https://nowhere.test/")
    assert connected == [("8.8.8.8", 443)]
    # The server's public name was resolved once, lazily, for its own addresses.
    assert asked.count("tilde.example") == 1
