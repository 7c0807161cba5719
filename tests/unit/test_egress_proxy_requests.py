"""How the egress proxy reads a request head: absolute-form HTTP becomes an origin-form
request with `Connection: close` and no proxy headers; CONNECT targets (IPv6 too); anything
else is a 400; the log's URL never carries the query string."""

from __future__ import annotations

from typing import Any

import pytest

from infra.sandboxes.egress_wire import Refused, parse_request


def parse(head: str) -> tuple[str, str, int, bytes, dict[str, Any]]:
    entry: dict[str, Any] = {}
    method, host, port, upstream = parse_request(head.encode(), entry)
    return method, host, port, upstream, entry


def test_absolute_form_is_rewritten_for_the_upstream() -> None:
    method, host, port, upstream, entry = parse(
        "post http://Example.COM:8080/a/b?token=s3cret HTTP/1.1\r\nHost: example.com:8080\r\n"
        "Proxy-Authorization: Basic eDp5\r\nProxy-Connection: keep-alive\r\n"
        "Connection: keep-alive\r\nContent-Length: 2\r\n\r\n"
    )
    assert (method, host, port) == ("POST", "example.com", 8080)
    assert upstream == (
        b"POST /a/b?token=s3cret HTTP/1.1\r\nHost: example.com:8080\r\nContent-Length: 2\r\n"
        b"Connection: close\r\n\r\n"
    )
    assert entry == {"method": "POST", "url": "http://example.com:8080/a/b"}
    assert parse("GET http://a.test HTTP/1.0\r\n\r\n")[1:3] == ("a.test", 80)
    assert parse("GET http://[::1]:81/ HTTP/1.1\r\n\r\n")[4]["url"] == "http://[::1]:81/"


def test_connect_targets() -> None:
    assert parse("CONNECT api.openai.com:443 HTTP/1.1\r\n\r\n")[:3] == (
        "CONNECT",
        "api.openai.com",
        443,
    )
    assert parse("CONNECT [fe80::1]:443 HTTP/1.1\r\n\r\n")[1] == "fe80::1"


@pytest.mark.parametrize(
    "head",
    [
        "GET /relative HTTP/1.1\r\n\r\n",  # not a proxy request
        "GET https://a.test/ HTTP/1.1\r\n\r\n",  # TLS goes through CONNECT
        "CONNECT a.test HTTP/1.1\r\n\r\n",
        "CONNECT a.test:https HTTP/1.1\r\n\r\n",
        "GET http://a.test:99999/ HTTP/1.1\r\n\r\n",
        "\x16\x03\x01 garbage\r\n\r\n",
    ],
)
def test_what_is_not_a_proxy_request_is_a_400(head: str) -> None:
    with pytest.raises(Refused) as refused:
        parse(head)
    assert refused.value.status == 400
