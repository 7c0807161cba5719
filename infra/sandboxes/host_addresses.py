"""This host's own addresses, for the egress baseline (a sandbox never reaches the server).

Read from `ip -j address` (every interface, secondary addresses included) with the
interfaces' primary IPv4 and `/proc/net/if_inet6` as the fallback; refreshed every few seconds
because sandbox bridges (and their gateway addresses) come and go."""

from __future__ import annotations

import fcntl
import json
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from domain.sandboxes.egress import AddressPolicy

SIOCGIFADDR = 0x8915


def own_addresses() -> set[str]:
    ip = shutil.which("ip")
    if ip is not None:
        try:
            out = subprocess.run(  # noqa: S603
                [ip, "-j", "address", "show"], capture_output=True, check=True, timeout=5
            ).stdout
            return {
                str(info["local"])
                for link in json.loads(out)
                for info in link.get("addr_info", [])
                if info.get("local")
            }
        except (OSError, subprocess.SubprocessError, ValueError):
            pass
    return _fallback()


def _fallback() -> set[str]:
    found: set[str] = set()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in socket.if_nameindex():
            try:
                packed = fcntl.ioctl(
                    s.fileno(), SIOCGIFADDR, struct.pack("256s", name[:15].encode())
                )
            except OSError:
                continue
            found.add(socket.inet_ntoa(packed[20:24]))
    inet6 = Path("/proc/net/if_inet6")
    if inet6.exists():
        for line in inet6.read_text().splitlines():
            raw = line.split()[0]
            found.add(socket.inet_ntop(socket.AF_INET6, bytes.fromhex(raw)))
    return found


class HostAddressPolicy:
    """The current `AddressPolicy` of this host: its addresses (re-read every `ttl` seconds)
    and the operator's allowlist (checked once, at start: an invalid entry stops the process)."""

    def __init__(self, allowed: Iterable[str], ttl: float = 5.0) -> None:
        self.allowed = [a for a in allowed if a.strip()]
        self.ttl = ttl
        self._lock = threading.Lock()
        self._policy = AddressPolicy.build(own_addresses(), self.allowed)
        self._at = time.monotonic()

    def __call__(self) -> AddressPolicy:
        """Never blocks: a stale list is refreshed in the background (the proxy also treats
        the gateways it serves as ours, so a new sandbox bridge is covered at once)."""
        if time.monotonic() - self._at > self.ttl and self._lock.acquire(blocking=False):
            self._at = time.monotonic()
            threading.Thread(target=self._refresh, name="egress-addresses", daemon=True).start()
        return self._policy

    def _refresh(self) -> None:
        try:
            own = AddressPolicy.build(own_addresses(), [])
            self._policy = AddressPolicy(own.own, self._policy.allowed)
        finally:
            self._at = time.monotonic()
            self._lock.release()
