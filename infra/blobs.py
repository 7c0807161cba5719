"""Rules every blob store shares: address format, ETag normalisation, the multipart ETag."""

from __future__ import annotations

import hashlib
import re

from application.ports import CompletedPart
from domain.shared.errors import Invalid
from domain.shared.ids import random_hex

MAX_PARTS = 10_000
# `<repository id>/<uuid4 hex>`: two plain segments, so an address can never climb out of
# the store's root (no `..`, no leading `/`, no separators inside a segment).
_REPOSITORY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_ADDRESS = re.compile(r"([A-Za-z0-9][A-Za-z0-9_.-]{0,127})/([0-9a-f]{32})")
_MD5 = re.compile(r"[0-9a-f]{32}")


def new_address(repository_id: str) -> str:
    """A fresh, never reused address inside the repository's namespace."""
    if not _REPOSITORY.fullmatch(repository_id) or ".." in repository_id:
        raise Invalid(f"not a usable repository id for a blob address: {repository_id!r}")
    return f"{repository_id}/{random_hex()}"


def check_address(address: str) -> str:
    """The address itself when it has the exact shape `new_address` produces, else Invalid."""
    if not is_address(address):
        raise Invalid(f"not a blob address: {address!r}")
    return address


def is_address(address: str) -> bool:
    match = _ADDRESS.fullmatch(address)
    return match is not None and ".." not in match.group(1)


def check_part_number(part_number: int) -> int:
    if not 1 <= part_number <= MAX_PARTS:
        raise Invalid(f"part numbers run from 1 to {MAX_PARTS}, not {part_number}")
    return part_number


def bare_etag(etag: str) -> str:
    """An ETag without surrounding quotes (clients send both forms), lower case."""
    return etag.strip().strip('"').lower()


def part_etag(etag: str) -> str:
    """The MD5 hex a part's ETag must be; Invalid for anything else."""
    bare = bare_etag(etag)
    if not _MD5.fullmatch(bare):
        raise Invalid(f"a part ETag is the hex MD5 of the part, not {etag!r}")
    return bare


def ordered_parts(parts: list[CompletedPart]) -> list[tuple[int, str]]:
    """(part number, bare MD5) ascending; Invalid when empty, duplicated or out of range."""
    if not parts:
        raise Invalid("a multipart upload needs at least one part")
    if len(parts) > MAX_PARTS:
        raise Invalid(f"a multipart upload has at most {MAX_PARTS} parts")
    ordered = sorted((check_part_number(p.part_number), part_etag(p.etag)) for p in parts)
    numbers = [n for n, _ in ordered]
    if len(set(numbers)) != len(numbers):
        raise Invalid("each part number may appear only once")
    return ordered


def multipart_etag(part_md5s: list[str]) -> str:
    """S3's rule: MD5 of the concatenated binary part MD5s, then `-<number of parts>`."""
    digest = hashlib.md5(b"".join(bytes.fromhex(m) for m in part_md5s), usedforsecurity=False)
    return f"{digest.hexdigest()}-{len(part_md5s)}"
