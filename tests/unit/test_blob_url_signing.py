"""Blob URL tokens: the packed layout and the JSON one both verify; anything altered, expired,
for another operation or malformed is refused with a 403's error, never a crash."""

from __future__ import annotations

import base64
import time
import uuid

import pytest

from domain.shared.errors import Forbidden
from infra.localfs import signing
from infra.localfs.signing import DOWNLOAD, PART, UPLOAD, BlobUrlSigner, Grant

SIGNER = BlobUrlSigner("a-server-secret")


def address(repository: str | None = None) -> str:
    return f"{repository or uuid.uuid4()}/{uuid.uuid4().hex}"


def later(seconds: int = 3600) -> int:
    return int(time.time()) + seconds


def refused(token: str, operation: str = DOWNLOAD, signer: BlobUrlSigner = SIGNER) -> str:
    with pytest.raises(Forbidden) as caught:
        signer.verify(operation, token)
    return str(caught.value.code)


@pytest.mark.parametrize(
    "grant",
    [
        Grant(UPLOAD, address(), later()),
        Grant(PART, address(), later(), upload_id=uuid.uuid4().hex, part_number=10_000),
        Grant(DOWNLOAD, address(), later(), content_type="application/octet-stream"),
        Grant(DOWNLOAD, address(), later(), content_type="text/plain; charset=utf-8 é"),
        Grant(DOWNLOAD, address(), later(), content_type=""),
    ],
)
def test_a_grant_of_uuid_addresses_is_packed_and_comes_back_whole(grant: Grant) -> None:
    token = SIGNER.sign(grant)
    assert "~" in token and "." not in token
    assert len(token) < 140  # a download's JSON token was ~270 characters
    assert SIGNER.verify(grant.operation, token) == grant


def test_a_download_token_does_not_carry_the_etag() -> None:
    grant = Grant(DOWNLOAD, address(), later(), content_type="image/png", etag="a" * 32)
    back = SIGNER.verify(DOWNLOAD, SIGNER.sign(grant))
    assert back.etag == "" and back.address == grant.address
    assert back.content_type == "image/png"


@pytest.mark.parametrize(
    "grant",
    [
        Grant(DOWNLOAD, address("repo-1"), later(), content_type="text/plain", etag="e"),
        Grant(UPLOAD, address(str(uuid.uuid4()).upper()), later()),  # not the canonical form
        Grant(DOWNLOAD, address(), later(), content_type="x/" + "y" * 300),
        Grant(PART, address(), later(), upload_id="not-hex", part_number=1),
        Grant(UPLOAD, address(), later(), etag="an etag on an upload"),
    ],
)
def test_what_the_packed_layout_cannot_hold_goes_as_json(grant: Grant) -> None:
    token = SIGNER.sign(grant)
    assert "." in token and "~" not in token
    assert SIGNER.verify(grant.operation, token) == grant


@pytest.mark.parametrize("packed", [True, False])
def test_an_altered_token_is_refused(packed: bool) -> None:
    repository = None if packed else "repo-1"
    token = SIGNER.sign(Grant(DOWNLOAD, address(repository), later(), content_type="a/b"))
    separator = "~" if packed else "."
    body, _, mac = token.partition(separator)
    other = "." if packed else "~"
    altered = [
        f"{body}{other}{mac}",  # the other layout's separator: its MAC differs
        f"{body}{separator}",
        body,
        f"{body}{separator}{mac[:-2]}",
        f"{body}{separator}{mac}A",
        f"{body}A{separator}{mac}",
        f"{body}{separator}{mac}{separator}{mac}",
        f"{body}{separator}{mac[:-1]}é",  # non-ASCII must not crash the comparison
    ]
    for i in range(0, len(body), 7):  # one character of the grant changed at a time
        flipped = "A" if body[i] != "A" else "B"
        altered.append(f"{body[:i]}{flipped}{body[i + 1 :]}{separator}{mac}")
    for bad in altered:
        assert refused(bad) == "INVALID_SIGNATURE", bad
    assert refused(token, signer=BlobUrlSigner("another secret")) == "INVALID_SIGNATURE"
    assert SIGNER.verify(DOWNLOAD, token).content_type == "a/b"


@pytest.mark.parametrize("repository", [None, "repo-1"])
def test_a_token_opens_only_its_operation_and_only_until_it_expires(
    repository: str | None,
) -> None:
    download = SIGNER.sign(Grant(DOWNLOAD, address(repository), later()))
    assert refused(download, UPLOAD) == "INVALID_SIGNATURE"
    assert refused(download, PART) == "INVALID_SIGNATURE"
    expired = SIGNER.sign(Grant(UPLOAD, address(repository), later(-1)))
    assert refused(expired, UPLOAD) == "URL_EXPIRED"


def test_a_genuinely_signed_but_malformed_packed_grant_is_refused_not_a_crash() -> None:
    """Only the server's key makes a valid MAC, so this needs the key: it guards the parser
    against the server's own mistakes, which must still answer 403."""
    good = signing._pack(Grant(UPLOAD, address(), later()))
    assert good is not None
    bodies = [
        b"",
        good[:10],
        good[:-1],  # the content type's length byte missing
        good + b"\x00",  # a byte past the end
        bytes([9]) + good[1:],  # no such operation
        good[:-1] + b"\x05ab",  # the length says 5, two follow
        good[:-1] + b"\x02\xff\xfe",  # not UTF-8
    ]
    for raw in bodies:
        body = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        token = f"{body}~{SIGNER._mac('2' + body)}"
        assert refused(token, UPLOAD) == "INVALID_SIGNATURE", raw
