"""Which addresses a connector may make the server connect to (the SSRF guard's decision).

A connector's endpoint is fetched by the server itself, so by default it must not reach the
server's neighbours: loopback, private (RFC 1918), link-local (cloud metadata at
169.254.169.254), CGNAT, IPv6 loopback/ULA/link-local, other non-global ranges and the
server's own addresses. An operator may allow given hosts or CIDRs explicitly
(`TILDE_CONNECTOR_ALLOWED_ENDPOINTS`). Pure: resolving names is the adapter's job.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from domain.shared.errors import Invalid

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class EndpointRefused(Invalid):
    """A connector's endpoint is, or resolves to, an address the server does not connect to
    on a connector's behalf (400 at creation and in `connectors:test`; a failed import job)."""

    code = "ENDPOINT_REFUSED"


def _nets(*cidrs: str) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


# Named ranges, most specific first: the refusal names the first that holds the address.
BLOCKED: tuple[tuple[str, tuple[Network, ...]], ...] = (
    ("cloud metadata (link-local)", _nets("169.254.169.254/32", "fd00:ec2::254/128")),
    ("loopback", _nets("127.0.0.0/8", "::1/128")),
    ("unspecified", _nets("0.0.0.0/8", "::/128")),
    ("private (RFC 1918)", _nets("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")),
    ("link-local", _nets("169.254.0.0/16", "fe80::/10")),
    ("shared address space (CGNAT)", _nets("100.64.0.0/10")),
    ("unique local (IPv6 ULA)", _nets("fc00::/7")),
    ("multicast", _nets("224.0.0.0/4", "ff00::/8")),
    (
        "reserved",
        _nets(
            "192.0.0.0/24",
            "192.0.2.0/24",
            "198.18.0.0/15",
            "198.51.100.0/24",
            "203.0.113.0/24",
            "240.0.0.0/4",
            "100::/64",
            "2001:db8::/32",
        ),
    ),
)


@dataclass(frozen=True)
class EndpointAllowlist:
    """Hosts (by name, exact) and networks an operator lets connectors reach anyway."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    def allows(self, host: str, address: Address) -> bool:
        return host.lower().rstrip(".") in self.hosts or any(
            address.version == n.version and address in n for n in self.networks
        )


def parse_allowlist(text: str) -> EndpointAllowlist:
    """`"minio.internal, 10.1.0.0/16, 127.0.0.1"` → an allowlist; names a bad entry."""
    hosts: set[str] = set()
    networks: list[Network] = []
    for raw in text.replace(";", ",").split(","):
        item = raw.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
            continue
        except ValueError:
            pass
        name = item.lower().rstrip(".")
        if not name or any(c in name for c in "/:@ ") or len(name) > 253:
            raise ValueError(f"'{item}' is neither a host name nor an address or CIDR")
        hosts.add(name)
    return EndpointAllowlist(frozenset(hosts), tuple(networks))


def _embedded_v4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, NAT64, 6to4), which a connection to it
    may reach."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in ipaddress.ip_network("64:ff9b::/96"):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    return None


def blocked_range(address: Address) -> str:
    """The name of the non-public range holding `address`, or "" for a public address."""
    inner = _embedded_v4(address)
    if inner is not None:
        return blocked_range(inner)
    for label, networks in BLOCKED:
        if any(address.version == n.version and address in n for n in networks):
            return label
    if not address.is_global:
        return "not globally routable"
    return ""


@dataclass(frozen=True)
class EndpointPolicy:
    """The decision: what the operator allows, and the server's own addresses."""

    allowlist: EndpointAllowlist = field(default_factory=EndpointAllowlist)
    own_addresses: frozenset[Address] = frozenset()

    def refusal(self, host: str, address: Address) -> str:
        """Why connecting to `address` (which `host` resolved to) is refused, or "" if not."""
        if self.allowlist.allows(host, address):
            return ""
        where = f"'{host}' resolves to {address}" if host != str(address) else str(address)
        label = blocked_range(address)
        if label:
            return f"{where}, a {label} address"
        inner = _embedded_v4(address)
        if address in self.own_addresses or (inner is not None and inner in self.own_addresses):
            return f"{where}, an address of this server"
        return ""

    def check(self, host: str, addresses: Iterable[Address]) -> list[Address]:
        """The addresses of `host` to connect to; refuses them all if any one is refused (a
        name that mixes public and private answers is not trusted)."""
        found = list(addresses)
        if not found:
            raise EndpointRefused(f"connector endpoint '{host}' does not resolve to an address")
        for address in found:
            reason = self.refusal(host, address)
            if reason:
                raise EndpointRefused(
                    f"connector endpoint refused: {reason}; an operator can allow it with "
                    "TILDE_CONNECTOR_ALLOWED_ENDPOINTS"
                )
        return found


def parse_address(text: str) -> Address | None:
    """`text` as an IP address (brackets and an IPv6 zone dropped), or None for a name."""
    try:
        return ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
