"""Object content types: RFC 9110 media types, and which of them a browser may show inline."""

from __future__ import annotations

import re

from domain.shared.errors import Invalid

DEFAULT = "application/octet-stream"
MAX_LENGTH = 255
_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
# A quoted-string holds tab, space and visible Latin-1 (obs-text) but no controls.
_QUOTED = r'"(?:[\t \x21\x23-\x5b\x5d-\x7e\xa0-\xff]|\\[\t \x21-\x7e\xa0-\xff])*"'
_MEDIA_TYPE = re.compile(
    rf"{_TCHARS}/{_TCHARS}(?:[ \t]*;[ \t]*{_TCHARS}=(?:{_TCHARS}|{_QUOTED}))*",
)
# Types that cannot carry script (served with nosniff, so the browser does not second-guess
# them). HTML, SVG, XML and PDF are deliberately absent: each can run script or forms.
SAFE_INLINE = frozenset(
    {
        "text/plain",
        "text/csv",
        "application/json",
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
    }
)


def is_media_type(value: str) -> bool:
    return len(value) <= MAX_LENGTH and _MEDIA_TYPE.fullmatch(value) is not None


def check_content_type(value: object) -> str:
    """The content type to store: a valid media type, the default when absent, or `Invalid`."""
    if value is None or value == "":
        return DEFAULT
    if not isinstance(value, str):
        raise Invalid("content_type must be a string")
    if not is_media_type(value):
        raise Invalid(
            f"content_type must be a media type such as 'text/csv; charset=utf-8' "
            f"(type/subtype, optional ;name=value parameters, at most {MAX_LENGTH} "
            "printable Latin-1 characters)"
        )
    return value


def servable(value: str) -> str:
    """A stored content type that is safe to send as a header (types stored before the check
    existed may hold CR/LF or non-Latin-1 text): the generic type otherwise."""
    return value if value and is_media_type(value) else DEFAULT


def essence(value: str) -> str:
    """`type/subtype` in lowercase, without parameters."""
    return value.partition(";")[0].strip().lower()


def is_safe_inline(value: str) -> bool:
    """May a browser display this type in place (rather than download it)?"""
    return essence(value) in SAFE_INLINE
