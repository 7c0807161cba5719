"""Self-authenticating blob URLs: the token in the URL is the whole credential."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
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
    """Tokens `<base64url JSON of the grant>.<base64url HMAC-SHA256>` (URL-path safe)."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("blob URLs need a non-empty server secret")
        self._key = hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())

    def sign(self, grant: Grant) -> str:
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
        body, _, mac = token.partition(".")
        # Bytes, not str: compare_digest rejects non-ASCII str with TypeError (a 500).
        if not mac or not hmac.compare_digest(mac.encode(), self._mac(body).encode()):
            raise Forbidden("the blob URL's signature is not valid", code="INVALID_SIGNATURE")
        try:
            op, address, upload_id, part, content_type, etag, expires = json.loads(_unb64(body))
        except (ValueError, TypeError, binascii.Error) as e:
            raise Forbidden("the blob URL is malformed", code="INVALID_SIGNATURE") from e
        if op != operation or op not in _OPERATIONS:
            raise Forbidden(f"this URL does not allow {operation}", code="INVALID_SIGNATURE")
        if int(expires) < time.time():
            raise Forbidden("the blob URL has expired", code="URL_EXPIRED")
        return Grant(op, address, int(expires), upload_id, int(part), content_type, etag)
