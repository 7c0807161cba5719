"""Egress decisions for sandboxes: the baseline no policy can lift, then the network policies.

The proxy resolves a destination once, asks `check_address` about every address it got, and
connects only to an address that passed (no second lookup, so no DNS rebinding). The baseline
refuses loopback, RFC 1918, link-local (cloud metadata), CGNAT, multicast/reserved, IPv6
loopback/ULA/link-local, anything else not globally routable (the ranges of
`domain/shared/addresses.py`, which the connector SSRF guard uses too) and the server's own
addresses; an operator may allow specific private
addresses or CIDRs (an internal mirror), never loopback, link-local or the server's own.

Organization network policies use the RBAC language's `Egress` action with `host` (exact, or
`*.example.com` for its subdomains), `port` and `method` arguments; see `decide_egress`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from domain.organizations.policy_language import Statement
from domain.shared.addresses import (
    NEVER_ALLOWED,
    Address,
    Network,
    embedded_v4,
    never_allowed_overlap,
    non_public_range,
)
from domain.shared.addresses import parse_address as _parse
from domain.shared.errors import Invalid

EGRESS = "Egress"


def parse_address(text: str) -> Address | None:
    """An address literal as the proxy connects to it (IPv4-mapped and NAT64 forms as the
    IPv4 address they reach), or None for a name."""
    address = _parse(text)
    if address is None:
        return None
    return embedded_v4(address, sixtofour=False) or address


@dataclass(frozen=True)
class AddressPolicy:
    """The baseline for one server: its own addresses and the operator's allowed ranges."""

    own: frozenset[Address] = frozenset()
    allowed: tuple[Network, ...] = ()

    @classmethod
    def build(cls, own: Iterable[str], allowed: Iterable[str]) -> AddressPolicy:
        own_set = frozenset(a for a in (parse_address(x) for x in own) if a is not None)
        return cls(own_set, tuple(check_operator_allow(c, own_set) for c in allowed))

    def check_address(self, address: Address) -> str:
        """'' when a sandbox may connect to `address`, else why not."""
        reason = non_public_range(address)
        reached = embedded_v4(address) or address
        if address in self.own or reached in self.own:
            return reason if reason in NEVER_ALLOWED else "the server's own address"
        if not reason:
            return ""
        if reason not in NEVER_ALLOWED and any(
            reached.version == n.version and reached in n for n in self.allowed
        ):
            return ""
        return reason


def check_operator_allow(cidr: str, own: frozenset[Address] = frozenset()) -> Network:
    """One entry of the operator's allowlist: `Invalid` for loopback, link-local/metadata,
    unspecified or multicast ranges, and for a range that is exactly one of our addresses."""
    try:
        network = ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        raise Invalid(f"'{cidr}' is not an IP address or CIDR") from None
    overlap = never_allowed_overlap(network)
    if overlap:
        raise Invalid(f"'{cidr}' overlaps {overlap}: never allowed for sandboxes")
    if network.num_addresses == 1 and parse_address(str(network.network_address)) in own:
        raise Invalid(f"'{cidr}' is one of this server's own addresses: never allowed")
    return network


_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def parse_operator_hosts(spec: str) -> dict[str, tuple[str, ...]]:
    """The operator's pinned names (`name=address,...`; a name may repeat for several
    addresses): names the proxy resolves without DNS, e.g. an internal mirror's. `Invalid` for
    a malformed entry, a name that is an address literal or a value that is not one. The
    addresses still pass the baseline (so a private one must also be allowed)."""
    hosts: dict[str, list[str]] = {}
    for raw in spec.split(","):
        if not raw.strip():
            continue
        name, sep, value = (part.strip() for part in raw.partition("="))
        name = name.lower().rstrip(".")
        if not sep or not name or not value:
            raise Invalid(f"'{raw.strip()}' is not name=address")
        if _parse(name) is not None or not all(_LABEL.match(x) for x in name.split(".")):
            raise Invalid(f"'{name}' is not a host name")
        if len(name) > 253:
            raise Invalid(f"'{name[:40]}...' is longer than a host name may be")
        address = _parse(value)
        if address is None:
            raise Invalid(f"'{value}' (for {name}) is not an IP address")
        if str(address) not in hosts.setdefault(name, []):
            hosts[name].append(str(address))
    return {name: tuple(found) for name, found in hosts.items()}


# -- organization network policies ----------------------------------------------------------


@dataclass(frozen=True)
class EgressRequest:
    host: str  # lower-case name or address literal, no brackets
    port: int
    method: str  # upper-case; CONNECT for a TLS tunnel

    def resource(self) -> dict[str, str]:
        return {"host": self.host.lower(), "port": str(self.port), "method": self.method.upper()}


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str


def decide_egress(
    statements: Iterable[Statement], request: EgressRequest, *, default_allow: bool = True
) -> Verdict:
    """A deny line that matches wins; else an allow line that matches allows; else, when the
    principal has `Egress` allow lines (an allowlist), the request is denied; else the
    organization's default applies (allow public destinations unless deny-by-default)."""
    resource = request.resource()
    allowlist = False
    allowed_by: Statement | None = None
    for statement in statements:
        if EGRESS not in statement.actions:
            continue
        if statement.effect == "allow":
            allowlist = True
        if statement.matches(EGRESS, resource, ""):
            if statement.effect == "deny":
                return Verdict(False, f"denied by network policy (line {statement.line})")
            allowed_by = allowed_by or statement
    if allowed_by is not None:
        return Verdict(True, f"allowed by network policy (line {allowed_by.line})")
    if allowlist:
        return Verdict(False, "not in the network policy's allowed destinations")
    if default_allow:
        return Verdict(True, "public destination")
    return Verdict(False, "the organization denies egress by default")
