"""Per-sandbox internal networks: a /28 from a private pool, no route out, no way to the host.

Docker's `--internal` drops forwarding off the bridge but still lets the container reach the
host itself at its bridge gateway (and any host address) — every service listening on 0.0.0.0.
Each sandbox bridge is named `tsbx…`, and one INPUT rule drops everything from `tsbx+` to the
host; network services (the egress proxy, the credentials endpoint) open their ports above it
with `allow_sandbox_port`."""

from __future__ import annotations

import hashlib
import ipaddress
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from typing import Any

from docker.errors import APIError, NotFound
from docker.types import IPAMConfig, IPAMPool

BRIDGE_PREFIX = "tsbx"
FIREWALL_RULE = ["INPUT", "-i", f"{BRIDGE_PREFIX}+", "-j", "DROP"]
ATTEMPTS = 64


def bridge_name(network_name: str) -> str:
    """Linux interface names are at most 15 bytes."""
    return BRIDGE_PREFIX + hashlib.sha256(network_name.encode()).hexdigest()[:11]


# Ports of the services workers offer sandboxes at their gateways (network services).
_allowed_ports: set[int] = set()


def _iptables() -> str:
    iptables = shutil.which("iptables")
    if iptables is None:
        raise RuntimeError("iptables is missing: sandboxes would reach the host's services")
    return iptables


def _accept_rule(port: int) -> list[str]:
    return ["INPUT", "-i", f"{BRIDGE_PREFIX}+", "-p", "tcp", "--dport", str(port), "-j", "ACCEPT"]


def _has(iptables: str, rule: list[str]) -> bool:
    return subprocess.run([iptables, "-w", "-C", *rule], capture_output=True).returncode == 0  # noqa: S603


def _insert_first(iptables: str, rule: list[str]) -> None:
    subprocess.run([iptables, "-w", "-I", rule[0], "1", *rule[1:]], check=True, capture_output=True)  # noqa: S603


def ensure_host_firewall() -> None:
    """The rule that keeps sandboxes off the host's own services (idempotent), below the
    ACCEPTs of the ports `allow_sandbox_port` opened."""
    iptables = _iptables()
    if not _has(iptables, FIREWALL_RULE):
        _insert_first(iptables, FIREWALL_RULE)
        for port in sorted(_allowed_ports):  # back above the DROP just inserted
            rule = _accept_rule(port)
            while _has(iptables, rule):
                subprocess.run([iptables, "-w", "-D", *rule], capture_output=True)  # noqa: S603
            _insert_first(iptables, rule)


def allow_sandbox_port(port: int) -> None:
    """Let sandboxes reach TCP `port` on the host, above the DROP (idempotent). A service on
    it must listen on sandbox gateways only (never 0.0.0.0) and check who connects."""
    iptables = _iptables()
    _allowed_ports.add(port)
    rule = _accept_rule(port)
    if not _has(iptables, rule):
        _insert_first(iptables, rule)
    ensure_host_firewall()


def used_subnets(networks: Iterable[Mapping[str, Any]]) -> set[ipaddress.IPv4Network]:
    used = set()
    for network in networks:
        for config in (network.get("IPAM") or {}).get("Config") or []:
            subnet = config.get("Subnet", "")
            if subnet and ":" not in subnet:
                used.add(ipaddress.IPv4Network(subnet, strict=False))
    return used


def candidates(pool: str, key: str, used: set[ipaddress.IPv4Network]) -> list[str]:
    """Free /28s of `pool`, starting at a place derived from `key` (fewer races between
    workers creating networks at once)."""
    subnets = list(ipaddress.IPv4Network(pool).subnets(new_prefix=28))
    start = int(hashlib.sha256(key.encode()).hexdigest(), 16) % len(subnets)
    ordered = subnets[start:] + subnets[:start]
    free = [s for s in ordered if not any(s.overlaps(u) for u in used)]
    return [str(s) for s in free[:ATTEMPTS]]


def gateway_of(subnet: str) -> str:
    """The host's address on a sandbox network: its first host address."""
    return str(next(ipaddress.IPv4Network(subnet).hosts()))


def network_info(api: Any, name: str) -> tuple[str, str] | None:
    """(subnet, gateway) of the network `name`; None when it does not exist."""
    try:
        found = api.inspect_network(name)
    except NotFound:
        return None
    for config in (found.get("IPAM") or {}).get("Config") or []:
        subnet = config.get("Subnet", "")
        if subnet and ":" not in subnet:
            return subnet, config.get("Gateway") or gateway_of(subnet)
    return None


def create_network(api: Any, name: str, pool: str, labels: Mapping[str, str]) -> str:
    """An internal bridge network on a free /28; retries when another creator took it."""
    used = used_subnets(api.networks())
    last: Exception | None = None
    for subnet in candidates(pool, name, used):
        try:
            created = api.create_network(
                name,
                driver="bridge",
                internal=True,
                labels=dict(labels),
                ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=subnet, gateway=gateway_of(subnet))]),
                options={
                    "com.docker.network.bridge.name": bridge_name(name),
                    "com.docker.network.bridge.enable_icc": "false",
                },
            )
            return str(created["Id"])
        except APIError as exc:
            if "overlap" not in str(exc).lower():
                raise
            last = exc
    raise RuntimeError(f"no free /28 left in the sandbox subnet pool {pool}") from last
