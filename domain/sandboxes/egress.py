"""Egress decisions for sandboxes: the baseline no policy can lift, then the network policies.

The proxy resolves a destination once, asks `check_address` about every address it got, and
connects only to an address that passed (no second lookup, so no DNS rebinding). The baseline
refuses loopback, RFC 1918, link-local (cloud metadata), CGNAT, multicast/reserved, IPv6
loopback/ULA/link-local and the server's own addresses; an operator may allow specific private
addresses or CIDRs (an internal mirror), never loopback, link-local or the server's own.

Organization network policies use the RBAC language's `Egress` action with `host` (exact, or
`*.example.com` for its subdomains), `port` and `method` arguments; see `decide_egress`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from domain.organizations.policy_language import Statement
from domain.shared.errors import Invalid

EGRESS = "Egress"
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# (range, reason): what no organization policy can lift.
BASELINE: tuple[tuple[Network, str], ...] = tuple(
    (ipaddress.ip_network(cidr), reason)
    for cidr, reason in (
        ("0.0.0.0/8", "unspecified address"),
        ("127.0.0.0/8", "loopback"),
        ("10.0.0.0/8", "private address (RFC 1918)"),
        ("172.16.0.0/12", "private address (RFC 1918)"),
        ("192.168.0.0/16", "private address (RFC 1918)"),
        ("169.254.0.0/16", "link-local address (cloud metadata)"),
        ("100.64.0.0/10", "shared address space (CGNAT)"),
        ("192.0.0.0/24", "IETF protocol assignments"),
        ("198.18.0.0/15", "benchmarking range"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
        ("::/128", "unspecified address"),
        ("::1/128", "loopback"),
        ("fc00::/7", "unique local address (IPv6 ULA)"),
        ("fe80::/10", "link-local address"),
        ("ff00::/8", "multicast"),
        ("64:ff9b:1::/48", "local-use NAT64"),
    )
)
# Never allowed, not even by the operator.
NEVER = frozenset({"unspecified address", "loopback", "link-local address (cloud metadata)",
                   "link-local address", "multicast"})  # fmt: skip


def parse_address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    return _unwrap(address)


def _unwrap(address: Address) -> Address:
    """An IPv4-mapped or 6to4/NAT64-embedded IPv4 is judged as the IPv4 it reaches."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _baseline_reason(address: Address) -> str:
    for network, reason in BASELINE:
        if address.version == network.version and address in network:
            return reason
    return ""


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
        address = _unwrap(address)
        reason = _baseline_reason(address)
        if address in self.own:
            return reason if reason in NEVER else "the server's own address"
        if not reason:
            return ""
        if reason not in NEVER and any(
            address.version == n.version and address in n for n in self.allowed
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
    for base, reason in BASELINE:
        if reason in NEVER and base.version == network.version and network.overlaps(base):  # type: ignore[arg-type]
            raise Invalid(f"'{cidr}' overlaps {base} ({reason}): never allowed for sandboxes")
    if network.num_addresses == 1 and _unwrap(network.network_address) in own:
        raise Invalid(f"'{cidr}' is one of this server's own addresses: never allowed")
    return network


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
