"""Self-authenticating blob URLs: the token in the URL is the whole credential."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import struct
import time
import uuid
from dataclasses import dataclass

from domain.shared.errors import Forbidden

UPLOAD, PART, DOWNLOAD = "upload", "part", "download"
_OPERATIONS = (UPLOAD, PART, DOWNLOAD)
# Bumping the purpose invalidates every URL signed before, without rotating the secret.
_PURPOSE = b"tilde-server blob URL v1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Grant:
    """What one signed URL allows: a single operation on a single address until `expires`."""

    operation: str
    address: str
    expires: int
    upload_id: str = ""
    part_number: int = 0
    content_type: str = ""
    etag: str = ""

    def seconds_left(self) -> int:
        return max(0, self.expires - int(time.time()))


class BlobUrlSigner:
    """Tokens carrying a grant and its HMAC-SHA256, URL-path safe, in one of two layouts:

    - packed (`<base64url grant>~<base64url MAC>`): the grant's fields in binary (operation,
      expiry, the address's repository UUID and blob id, a part's upload id and number, the
      content type), the MAC taken over "2" + the encoded grant. About 120 characters for a
      download instead of 270: the SDK's HTTP client parses every `Location` it receives and
      every upload URL it is given, and a shorter one costs it measurably less
      (docs/architecture.md).
    - JSON (`<base64url JSON>.<base64url MAC>`): any grant, for what the packed layout cannot
      hold (a repository id that is not a UUID, a content type over 255 bytes).

    Both verify; the separator says which layout to read, and the "2" in the packed MAC keeps
    one layout's grant from ever passing as the other's."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("blob URLs need a non-empty server secret")
        self._key = hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())

    def sign(self, grant: Grant) -> str:
        packed = _pack(grant)
        if packed is not None:
            body = _b64(packed)
            return f"{body}{_PACKED}{self._mac(_PACKED_MAC + body)}"
        fields = [
            grant.operation,
            grant.address,
            grant.upload_id,
            grant.part_number,
            grant.content_type,
            grant.etag,
            grant.expires,
        ]
        body = _b64(json.dumps(fields, separators=(",", ":")).encode())
        return f"{body}.{self._mac(body)}"

    def verify(self, operation: str, token: str) -> Grant:
        """The grant a genuine, unexpired token for `operation` carries; Forbidden otherwise."""
        packed = _PACKED in token
        body, _, mac = token.partition(_PACKED if packed else ".")
        expected = self._mac(_PACKED_MAC + body if packed else body)
        # Bytes, not str: compare_digest rejects non-ASCII str with TypeError (a 500).
        if not mac or not hmac.compare_digest(mac.encode(), expected.encode()):
            raise Forbidden("the blob URL's signature is not valid", code="INVALID_SIGNATURE")
        try:
            if packed:
                grant = _unpack(_unb64(body))
            else:
                op, address, upload_id, part, content_type, etag, expires = json.loads(_unb64(body))
                grant = Grant(op, address, int(expires), upload_id, int(part), content_type, etag)
        except (ValueError, TypeError, IndexError, binascii.Error, struct.error) as e:
            raise Forbidden("the blob URL is malformed", code="INVALID_SIGNATURE") from e
        if grant.operation != operation or grant.operation not in _OPERATIONS:
            raise Forbidden(f"this URL does not allow {operation}", code="INVALID_SIGNATURE")
        if grant.expires < time.time():
            raise Forbidden("the blob URL has expired", code="URL_EXPIRED")
        return grant


# The packed layout: operation (1 byte), expiry (4, unsigned seconds), the repository's UUID
# (16) and the blob id (16); a part's upload id (16) and number (2); the content type's
# length (1) and UTF-8 bytes. A download's ETag is not carried (the download reads it from the
# blob itself), so its grant comes back with an empty one.
_PACKED, _PACKED_MAC = "~", "2"
_CODES = {UPLOAD: 1, PART: 2, DOWNLOAD: 3}
_OPS = {code: op for op, code in _CODES.items()}
_HEAD = struct.Struct(">BI16s16s")
_PART = struct.Struct(">16sH")
_HEX32 = re.compile(r"[0-9a-f]{32}")


def _pack(grant: Grant) -> bytes | None:
    """The packed grant, or None when it does not fit that layout (JSON carries it)."""
    repository, _, blob = grant.address.partition("/")
    try:
        repository_id = uuid.UUID(repository)
    except ValueError:
        return None
    content_type = grant.content_type.encode()
    if (
        str(repository_id) != repository  # only the canonical form comes back the same
        or not _HEX32.fullmatch(blob)
        or grant.operation not in _CODES
        or not 0 <= grant.expires < 1 << 32
        or len(content_type) > 255
        or (grant.operation != DOWNLOAD and grant.etag)
    ):
        return None
    packed = _HEAD.pack(
        _CODES[grant.operation], grant.expires, repository_id.bytes, bytes.fromhex(blob)
    )
    if grant.operation == PART:
        if not _HEX32.fullmatch(grant.upload_id) or not 0 < grant.part_number < 1 << 16:
            return None
        packed += _PART.pack(bytes.fromhex(grant.upload_id), grant.part_number)
    elif grant.upload_id or grant.part_number:
        return None
    return packed + bytes([len(content_type)]) + content_type


def _unpack(data: bytes) -> Grant:
    """A packed grant; ValueError (or struct.error) unless `data` is exactly one."""
    code, expires, repository, blob = _HEAD.unpack_from(data)
    operation = _OPS.get(code, "")
    if not operation:
        raise ValueError("unknown operation")
    at = _HEAD.size
    upload_id, part_number = "", 0
    if operation == PART:
        raw_upload_id, part_number = _PART.unpack_from(data, at)
        upload_id, at = raw_upload_id.hex(), at + _PART.size
    length = data[at]
    content_type = data[at + 1 : at + 1 + length].decode()
    if at + 1 + length != len(data):
        raise ValueError("trailing or missing bytes")
    address = f"{uuid.UUID(bytes=repository)}/{blob.hex()}"
    return Grant(operation, address, expires, upload_id, part_number, content_type)
