"""EndpointGuard: the SSRF guard under every connection a connector's client opens.

Each new socket resolves its host once, checks every address with the domain's
`EndpointPolicy`, and connects to a checked address itself — the HTTP library never resolves
the name again, so a DNS answer that changes between check and use (rebinding) gains nothing.
It plugs into urllib3 as connection classes: botocore's pool manager (S3) and a `requests`
adapter (GCS, its token exchange included). TLS still verifies the original host name.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import socket
import struct
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import requests
from botocore.awsrequest import (
    AWSHTTPConnection,
    AWSHTTPConnectionPool,
    AWSHTTPSConnection,
    AWSHTTPSConnectionPool,
)
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import create_connection

from domain.connectors.endpoints import EndpointAllowlist, EndpointPolicy, EndpointRefused
from domain.shared.addresses import Address, parse_address

Resolver = Callable[[str, int], Iterable[Address]]


def resolve(host: str, port: int) -> list[Address]:
    """Every address `host` resolves to (TCP), in the resolver's order, without repeats."""
    found: list[Address] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def local_addresses() -> set[Address]:
    """This host's interface addresses (Linux: IPv4 by ioctl, IPv6 from /proc), best effort."""
    found: set[Address] = set()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, name in socket.if_nameindex():
            with contextlib.suppress(OSError):
                packed = struct.pack("256s", name.encode()[:15])
                answer = fcntl.ioctl(probe.fileno(), 0x8915, packed)  # SIOCGIFADDR
                found.add(ipaddress.IPv4Address(answer[20:24]))
    with contextlib.suppress(OSError), open("/proc/net/if_inet6") as lines:
        for line in lines:
            with contextlib.suppress(ValueError, IndexError):
                found.add(ipaddress.IPv6Address(int(line.split()[0], 16)))
    return found


class EndpointGuard:
    """Resolves, checks and connects; `own_hosts` (the server's public names) are resolved
    once, on first use, into the server's own addresses."""

    def __init__(
        self,
        allowlist: EndpointAllowlist,
        *,
        own_hosts: Iterable[str] = (),
        own_addresses: Iterable[Address] = (),
        resolver: Resolver = resolve,
    ) -> None:
        self.allowlist = allowlist
        self.own_hosts = tuple(h for h in own_hosts if h)
        self.own_addresses = set(own_addresses)
        self.resolver = resolver
        self._policy: EndpointPolicy | None = None
        self._lock = threading.Lock()

    def policy(self) -> EndpointPolicy:
        with self._lock:
            if self._policy is None:
                own = set(self.own_addresses)
                for host in self.own_hosts:
                    literal = parse_address(host)
                    if literal is not None:
                        own.add(literal)
                        continue
                    with contextlib.suppress(OSError, UnicodeError):
                        own.update(self.resolver(host, 443))
                self._policy = EndpointPolicy(self.allowlist, frozenset(own))
            return self._policy

    def addresses(self, host: str, port: int) -> list[Address]:
        """The checked addresses of `host`; `EndpointRefused` names the first refused one."""
        literal = parse_address(host)
        if literal is not None:
            return self.policy().check(str(literal), [literal])
        try:
            found = list(self.resolver(host, port))
        except (OSError, UnicodeError) as exc:
            raise EndpointRefused(f"connector endpoint '{host}' does not resolve: {exc}") from None
        return self.policy().check(host, found)

    def check_url(self, url: str) -> None:
        """Refuses an endpoint URL whose host this server must not connect to."""
        parts = urlsplit(url)
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise EndpointRefused(f"connector endpoint '{url}' has an invalid port") from None
        self.addresses(parts.hostname or "", port)

    def connect(
        self,
        host: str,
        port: int,
        timeout: Any,
        source_address: Any = None,
        socket_options: Any = None,
    ) -> socket.socket:
        """A socket to the first checked address of `host` that answers."""
        error: OSError | None = None
        for address in self.addresses(host, port):
            try:
                return create_connection(
                    (str(address), port), timeout, source_address, socket_options
                )
            except OSError as exc:
                error = exc
        assert error is not None
        raise error


class _Guarded:
    """Mixin over urllib3's connections: `_new_conn` through the guard."""

    guard: EndpointGuard

    def _new_conn(self) -> socket.socket:
        conn: Any = self
        try:
            return self.guard.connect(
                conn._dns_host, conn.port, conn.timeout, conn.source_address, conn.socket_options
            )
        except socket.gaierror as e:
            raise NameResolutionError(conn.host, conn, e) from e
        except TimeoutError as e:
            raise ConnectTimeoutError(conn, f"Connection to {conn.host} timed out") from e
        except OSError as e:
            raise NewConnectionError(conn, f"Failed to establish a new connection: {e}") from e


def _classes(guard: EndpointGuard) -> dict[str, dict[str, type]]:
    """Pool classes per scheme, for botocore ("aws") and requests ("plain")."""

    def pool(base: type, connection: type) -> type:
        guarded = type(f"Guarded{connection.__name__}", (_Guarded, connection), {"guard": guard})
        return type(f"Guarded{base.__name__}", (base,), {"ConnectionCls": guarded})

    return {
        "aws": {
            "http": pool(AWSHTTPConnectionPool, AWSHTTPConnection),
            "https": pool(AWSHTTPSConnectionPool, AWSHTTPSConnection),
        },
        "plain": {
            "http": pool(HTTPConnectionPool, HTTPConnection),
            "https": pool(HTTPSConnectionPool, HTTPSConnection),
        },
    }


class GuardedAdapter(HTTPAdapter):
    """A `requests` adapter whose connections go through the guard."""

    def __init__(self, pools: dict[str, type], **kwargs: Any) -> None:
        self._pools = pools
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(self._pools)


class GuardedClients:
    """What the S3 and GCS sources need to connect only through one guard."""

    def __init__(self, guard: EndpointGuard) -> None:
        self.guard = guard
        self._pools = _classes(guard)

    def protect_boto(self, client: Any) -> Any:
        """Points a botocore client's connection pools at the guard (before its first call)."""
        session = client._endpoint.http_session
        session._pool_classes_by_scheme = dict(self._pools["aws"])
        session._manager.pool_classes_by_scheme = dict(self._pools["aws"])
        return client

    def mount(self, session: requests.Session) -> requests.Session:
        adapter = GuardedAdapter(self._pools["plain"], max_retries=0, pool_maxsize=16)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def session(self) -> requests.Session:
        return self.mount(requests.Session())
