"""The address ranges the server never connects to on someone else's behalf unless an operator
says so: one list for both guards that need it, the connector SSRF guard
(`domain/connectors/endpoints.py`) and the sandbox egress baseline (`domain/sandboxes/egress.py`).

Pure: resolving names is the adapters' job. An IPv6 address that carries an IPv4 one (mapped,
NAT64, 6to4) is judged as the IPv4 address a connection to it may reach."""

from __future__ import annotations

import ipaddress

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _nets(*cidrs: str) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


METADATA = "cloud metadata (link-local)"
LOOPBACK = "loopback"
UNSPECIFIED = "unspecified"
LINK_LOCAL = "link-local"
MULTICAST = "multicast"

# Named ranges, most specific first: a refusal names the first that holds the address.
NON_PUBLIC: tuple[tuple[str, tuple[Network, ...]], ...] = (
    (METADATA, _nets("169.254.169.254/32", "fd00:ec2::254/128")),
    (LOOPBACK, _nets("127.0.0.0/8", "::1/128")),
    (UNSPECIFIED, _nets("0.0.0.0/8", "::/128")),
    ("private (RFC 1918)", _nets("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")),
    (LINK_LOCAL, _nets("169.254.0.0/16", "fe80::/10")),
    ("shared address space (CGNAT)", _nets("100.64.0.0/10")),
    ("unique local (IPv6 ULA)", _nets("fc00::/7")),
    (MULTICAST, _nets("224.0.0.0/4", "ff00::/8")),
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
            "64:ff9b:1::/48",
        ),
    ),
)
NOT_ROUTABLE = "not globally routable"
# Ranges no operator allowlist may open for sandboxes.
NEVER_ALLOWED = frozenset({METADATA, LOOPBACK, UNSPECIFIED, LINK_LOCAL, MULTICAST})

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def parse_address(text: str) -> Address | None:
    """`text` as an IP address (brackets and an IPv6 zone dropped), or None for a name."""
    try:
        return ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def embedded_v4(address: Address, *, sixtofour: bool = True) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, NAT64 and, unless told not to, 6to4)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if sixtofour and address.sixtofour is not None:
        return address.sixtofour
    return None


def non_public_range(address: Address) -> str:
    """The name of the non-public range holding `address`, or "" for a public address."""
    inner = embedded_v4(address)
    if inner is not None:
        return non_public_range(inner)
    for label, networks in NON_PUBLIC:
        if any(address.version == n.version and address in n for n in networks):
            return label
    if not address.is_global:
        return NOT_ROUTABLE
    return ""


def never_allowed_overlap(network: Network) -> str:
    """The never-allowed range `network` overlaps, as "<range> (<label>)", or ""."""
    for label, networks in NON_PUBLIC:
        if label not in NEVER_ALLOWED:
            continue
        for base in networks:
            if base.version == network.version and network.overlaps(base):  # type: ignore[arg-type]
                return f"{base} ({label})"
    return ""
