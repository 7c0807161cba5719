"""Pure input bounds from security issue #8: media types, invisible path characters, metadata
size, reserved names, JSON nesting, Range digits and the security-header choice."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest

from domain.catalog import media_types
from domain.catalog.paths import check_path, check_prefix
from domain.catalog.user_metadata import MAX_USER_METADATA_BYTES, check_metadata_size
from domain.identity.rules import normalize_username
from domain.organizations.rules import check_org_name
from domain.shared.errors import Invalid
from infra.settings import Settings
from interfaces.http.body_limits import MAX_JSON_DEPTH, too_deep
from interfaces.http.controllers.blobs import UNSATISFIABLE, byte_range
from interfaces.http.security_headers import BLOB_CSP, PAGE_CSP, SecurityHeaders


@pytest.mark.parametrize(
    "value",
    [
        "text/csv",
        "application/vnd.ms-excel",
        "text/plain; charset=utf-8",
        'multipart/mixed; boundary="a b;c"',
        "image/svg+xml",
        "application/x.tilde+json;v=1;q=x",
    ],
)
def test_media_types_are_accepted(value: str) -> None:
    assert media_types.check_content_type(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "text/html\r\nSet-Cookie: a=b",
        "text/html\nX: y",
        "text/plain; charset=ü\u0100",  # not Latin-1
        "text/plain\u202e",
        "html",
        "text/",
        "/html",
        "text/plain;",
        "text/plain; charset",
        "text/plain; charset=\x85",
        "a b/c",
        "text/" + "x" * 300,
        5,
        ["text/plain"],
    ],
)
def test_bad_content_types_are_refused(value: object) -> None:
    with pytest.raises(Invalid, match="content_type"):
        media_types.check_content_type(value)


def test_absent_content_type_is_the_default_and_bad_stored_ones_serve_as_octets() -> None:
    assert media_types.check_content_type(None) == media_types.DEFAULT
    assert media_types.check_content_type("") == media_types.DEFAULT
    assert media_types.servable("text/html\r\nX: y") == media_types.DEFAULT
    assert media_types.servable("image/png") == "image/png"
    assert media_types.servable("") == media_types.DEFAULT


@pytest.mark.parametrize(
    ("value", "inline"),
    [
        ("image/png", True),
        ("Text/Plain; charset=utf-8", True),
        ("text/html", False),
        ("image/svg+xml", False),
        ("application/xhtml+xml", False),
        ("text/xml", False),
        ("application/pdf", False),
        ("application/octet-stream", False),
    ],
)
def test_only_script_free_types_are_shown_inline(value: str, inline: bool) -> None:
    assert media_types.is_safe_inline(value) is inline


@pytest.mark.parametrize(
    "char", ["\u202e", "\u202a", "\u2066", "\u2069", "\ufeff", "\u200b", "\u200f", "\u2028"]
)
def test_new_paths_refuse_invisible_and_bidi_characters(char: str) -> None:
    with pytest.raises(Invalid, match="bidirectional"):
        check_path(f"invoice{char}fdp.exe", new=True)
    # Objects stored before the rule stay readable, listable and deletable by their name.
    assert check_path(f"invoice{char}fdp.exe") == f"invoice{char}fdp.exe"
    assert check_prefix(f"docs/{char}/") == f"docs/{char}/"


def test_control_characters_are_refused_in_any_path() -> None:
    for name in ("a\x00b", "a\nb", "a\x7fb"):
        with pytest.raises(Invalid):
            check_path(name)


def test_visible_unicode_paths_are_still_fine() -> None:
    assert check_path("données/résumé 2024 — final ✓.pdf") == "données/résumé 2024 — final ✓.pdf"


def test_user_metadata_is_capped_at_two_kilobytes_of_utf8() -> None:
    at_limit = {"k": "v" * (MAX_USER_METADATA_BYTES - 1)}
    assert check_metadata_size(at_limit) == at_limit
    with pytest.raises(Invalid, match="2048"):
        check_metadata_size({"k": "v" * MAX_USER_METADATA_BYTES})
    with pytest.raises(Invalid):
        check_metadata_size({"k": "é" * 1024})  # 2 bytes each in UTF-8


@pytest.mark.parametrize(
    "reserved",
    ["console", "metrics", "health", "root", "tilde", "www", "static", "administrator", "support"],
)
def test_service_names_are_reserved_for_users_and_organizations(reserved: str) -> None:
    with pytest.raises(Invalid, match="reserved"):
        normalize_username(reserved)
    with pytest.raises(Invalid, match="reserved"):
        check_org_name(reserved)


def test_json_nesting_is_measured_outside_strings() -> None:
    limit = MAX_JSON_DEPTH
    assert not too_deep(b"[" * limit + b"]" * limit)
    assert too_deep(b"[" * (limit + 1) + b"]" * (limit + 1))
    assert too_deep(b'{"a":' * (limit + 1) + b"1" + b"}" * (limit + 1))
    assert not too_deep(b'{"a":"' + b"[{" * 10_000 + b'"}')  # brackets inside a string
    assert not too_deep(b'["\\"[[[[' + b"[" * 100 + b'"]')  # an escaped quote stays inside
    assert not too_deep(b"[" + b"[1,[2]]," * 50_000 + b"[]]")  # wide, not deep
    assert too_deep(b"[" * 100_000 + b"]" * 100_000)


@pytest.mark.parametrize(
    "header", ["bytes=" + "9" * 5000 + "-", "bytes=0-" + "9" * 5000, "bytes=-" + "9" * 20]
)
def test_range_offsets_longer_than_19_digits_are_unsatisfiable(header: str) -> None:
    assert byte_range(header, 100) == UNSATISFIABLE


def test_range_offsets_of_19_digits_still_parse() -> None:
    assert byte_range("bytes=10-" + "9" * 19, 100) == (10, 99)
    assert byte_range("bytes=" + "9" * 19 + "-", 100) == UNSATISFIABLE


def _scope(path: str, scheme: str = "http", **headers: str) -> Any:
    raw = [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return {"type": "http", "path": path, "scheme": scheme, "headers": raw}


def test_security_headers_depend_on_the_path_and_on_https() -> None:
    plain = SecurityHeaders(Settings(public_url="http://tilde.test"))
    api = dict(plain.headers_for(_scope("/api/v1/auth/me")))
    assert api[b"content-security-policy"] == PAGE_CSP
    assert b"frame-ancestors 'none'" in PAGE_CSP and api[b"x-frame-options"] == b"DENY"
    assert api[b"x-content-type-options"] == b"nosniff"
    assert b"strict-transport-security" not in api
    blob = dict(plain.headers_for(_scope("/_blob/d/token")))
    assert blob[b"content-security-policy"] == BLOB_CSP == b"default-src 'none'; sandbox"
    over_tls = dict(plain.headers_for(_scope("/console/login", "https")))
    assert over_tls[b"strict-transport-security"].startswith(b"max-age=")
    # X-Forwarded-Proto counts only behind a trusted proxy.
    proxied = _scope("/api/v1/auth/me", x_forwarded_proto="https")
    assert b"strict-transport-security" not in dict(plain.headers_for(proxied))
    trusting = SecurityHeaders(Settings(trust_forwarded_for=True))
    assert b"strict-transport-security" in dict(trusting.headers_for(proxied))


def test_every_ascii_character_is_judged_as_by_its_unicode_category() -> None:
    """Printable ASCII skips the per-character walk; what it lets through must be exactly
    what the walk lets through (controls, DEL included, stay refused)."""
    for code in range(128):
        ch = chr(code)
        path = f"a{ch}b"
        refused = unicodedata.category(ch) in ("Cc", "Cs", "Cf", "Zl", "Zp")
        for new in (False, True):
            if refused:
                with pytest.raises(Invalid, match="control"):
                    check_path(path, new=new)
            elif ch != "/":
                assert check_path(path, new=new) == path
