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

from domain.shared.addresses import Address, Network, embedded_v4, non_public_range
from domain.shared.errors import Invalid


class EndpointRefused(Invalid):
    """A connector's endpoint is, or resolves to, an address the server does not connect to
    on a connector's behalf (400 at creation and in `connectors:test`; a failed import job)."""

    code = "ENDPOINT_REFUSED"


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
        label = non_public_range(address)  # the ranges the egress baseline uses too
        if label:
            return f"{where}, a {label} address"
        inner = embedded_v4(address)
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
