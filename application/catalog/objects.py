"""Object commands: upload URLs and tokens, finalize, multipart, copy, delete."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from application.base import Result, Written
from application.catalog.app import CatalogBase, Expected, Peeked
from application.ports import BlobInfo, CompletedPart
from application.principal import Principal
from domain.catalog.commits import check_metadata
from domain.catalog.media_types import check_content_type
from domain.catalog.paths import check_path
from domain.catalog.repository import Repository
from domain.catalog.staging import staged_delete, staged_put
from domain.catalog.user_metadata import check_metadata_size
from domain.shared.errors import Invalid, NotFound
from domain.shared.values import stamp

MAX_PARTS = 10_000
DEFAULT_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class UploadGrant:
    """Where to send bytes and the token that finalizes them."""

    upload_url: str = ""
    upload_token: str = ""
    upload_id: str = ""


def unquote_etag(value: object) -> str:
    return value.strip().strip('"') if isinstance(value, str) else ""


# RFC 9110 `token`: what a header name may contain (metadata travels as X-Tilde-Meta-<key>).
_HEADER_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}")


def check_object_metadata(value: object) -> dict[str, str]:
    """Object metadata: string pairs that can be sent back as `X-Tilde-Meta-<key>` headers."""
    metadata = check_metadata(value)
    for key, text in metadata.items():
        if not _HEADER_TOKEN.fullmatch(key):
            raise Invalid(f"metadata key {key!r} must be 1-128 letters, digits or !#$%&'*+-.^_`|~")
        if any(unicodedata.category(ch) == "Cc" and ch != "\t" for ch in text):
            raise Invalid(f"metadata value of {key!r} must not contain control characters")
    return metadata


def _multipart_etag(parts: list[CompletedPart]) -> str | None:
    """S3's ETag of these parts (MD5 of their binary MD5s, `-N`); None if one is no MD5."""
    try:
        digests = b"".join(bytes.fromhex(p.etag) for p in parts)
    except ValueError:
        return None
    return f"{hashlib.md5(digests, usedforsecurity=False).hexdigest()}-{len(parts)}"


class ObjectCommands(CatalogBase):
    """Staging uploads, copies and deletions into a session."""

    def _token(self, **payload: str) -> str:
        return self.signer.sign(
            "upload", json.dumps(payload, sort_keys=True), ttl_seconds=2 * self.upload_ttl
        )

    def _grant(
        self,
        token: object,
        *,
        session_id: str,
        path: str,
        repository_id: str,
        kind: str,
        upload_id: str = "",
    ) -> dict[str, str]:
        """The verified grant of an upload token. A multipart upload's id is its token, so a
        request that carries only the upload id (as the reference's curl example does) is
        just as verifiable."""
        if kind == "multipart" and not token:
            token = upload_id
        raw = self.signer.verify("upload", token) if isinstance(token, str) and token else None
        grant = json.loads(raw) if raw else None
        if (
            not grant
            or (grant.get("s"), grant.get("p"), grant.get("r"), grant.get("k"))
            != (session_id, path, repository_id, kind)
            or (upload_id and upload_id not in (token, grant.get("u")))
        ):
            raise Invalid(
                "upload_token is invalid, expired, or for another session, path or upload"
            )
        return grant  # type: ignore[no-any-return]

    def start_upload(
        self, org_id: str, repo_name: str, session_id: str, path: object, principal: Principal
    ) -> UploadGrant:
        object_path = check_path(path, new=True)
        repo, peeked = self.repository_and_session(org_id, repo_name, session_id)
        self.open_session(repo, session_id, read_only=True, peeked=peeked)
        address = self.blobs.new_address(str(repo.id))
        token = self._token(s=session_id, p=object_path, r=str(repo.id), a=address, k="single")
        return UploadGrant(self.blobs.upload_url(address, expires_in=self.upload_ttl), token)

    def finalize(
        self,
        org_id: str,
        repo_name: str,
        session_id: str,
        path: object,
        *,
        upload_token: object,
        checksum: object = None,
        size_bytes: object = None,
        content_type: object = None,
        metadata: object = None,
        principal: Principal,
    ) -> Result[dict[str, str]]:
        object_path = check_path(path, new=True)
        # The repository and the session as last read here (the PUT object before this read
        # them), their versions expected by the staging save; else both read in one round
        # trip. Staging checks the session either way.
        held = self.held_repository_and_session(org_id, repo_name, session_id)
        expect: Expected = ()
        if held is not None:
            repo, peeked, expect = held
        else:
            repo, peeked = self.repository_and_session(org_id, repo_name, session_id)
        grant = self._grant(
            upload_token,
            session_id=session_id,
            path=object_path,
            repository_id=str(repo.id),
            kind="single",
        )
        info = self.blobs.stat(grant["a"])
        if info is None:
            raise Invalid("nothing was uploaded for this token: PUT the bytes to upload_url first")
        return self._stage_upload(
            repo,
            session_id,
            object_path,
            grant["a"],
            info,
            checksum=checksum,
            size_bytes=size_bytes,
            content_type=content_type,
            metadata=metadata,
            principal=principal,
            peeked=peeked,
            expect=expect,
        )

    def _stage_upload(
        self,
        repo: Repository,
        session_id: str,
        path: str,
        address: str,
        info: BlobInfo,
        *,
        checksum: object,
        size_bytes: object,
        content_type: object,
        metadata: object,
        principal: Principal,
        peeked: Peeked = None,
        expect: Expected = (),
    ) -> Result[dict[str, str]]:
        if size_bytes is not None and (
            isinstance(size_bytes, bool)
            or not isinstance(size_bytes, int)
            or size_bytes != info.size
        ):
            raise Invalid(f"size_bytes {size_bytes} does not match the {info.size} bytes uploaded")
        if checksum not in (None, "") and unquote_etag(checksum) != info.etag:
            raise Invalid(
                "checksum does not match the uploaded bytes (ETag "
                f'"{info.etag}"); nothing was staged'
            )
        if content_type is not None and not isinstance(content_type, str):
            raise Invalid("content_type must be a string")
        entry = staged_put(
            path,
            address=address,
            size=info.size,
            etag=info.etag,
            content_type=check_content_type(content_type),
            metadata=check_metadata_size(check_object_metadata(metadata)),
            last_modified=stamp(self.clock()),
        )
        # `repo` was loaded by the caller: staging needs only its id and organization, and
        # the staging save itself re-checks the session (a second load cost two reads).
        written = self.stage(
            repo, session_id, [entry], principal.actor, peeked=peeked, expect=expect
        )
        return Result({"path": path, "etag": f'"{info.etag}"'}, tuple(written))

    # -- multipart ------------------------------------------------------------------------
    def start_multipart(
        self, org_id: str, repo_name: str, session_id: str, path: object, principal: Principal
    ) -> UploadGrant:
        object_path = check_path(path, new=True)
        repo = self.get_repository(org_id, repo_name, read_only=True)
        self.open_session(repo, session_id, read_only=True)
        address = self.blobs.new_address(str(repo.id))
        upload_id = self.blobs.create_multipart(address)
        token = self._token(
            s=session_id, p=object_path, r=str(repo.id), a=address, k="multipart", u=upload_id
        )
        return UploadGrant(upload_token=token, upload_id=token)

    def part_url(
        self,
        org_id: str,
        repo_name: str,
        session_id: str,
        path: object,
        *,
        upload_id: str,
        upload_token: object,
        part_number: int,
    ) -> str:
        object_path = check_path(path)
        repo = self.get_repository(org_id, repo_name, read_only=True)
        grant = self._grant(
            upload_token,
            session_id=session_id,
            path=object_path,
            repository_id=str(repo.id),
            kind="multipart",
            upload_id=upload_id,
        )
        if not 1 <= part_number <= MAX_PARTS:
            raise Invalid(f"part_number must be between 1 and {MAX_PARTS}")
        return self.blobs.part_url(grant["a"], grant["u"], part_number, expires_in=self.upload_ttl)

    def complete_multipart(
        self,
        org_id: str,
        repo_name: str,
        session_id: str,
        path: object,
        *,
        upload_id: object,
        upload_token: object,
        parts: list[dict[str, Any]],
        size_bytes: object = None,
        content_type: object = None,
        metadata: object = None,
        principal: Principal,
    ) -> Result[dict[str, str]]:
        object_path = check_path(path, new=True)
        if not isinstance(upload_id, str) or not upload_id:
            raise Invalid("upload_id is required")
        if not parts:
            raise Invalid("parts must list at least one uploaded part")
        if len(parts) > MAX_PARTS:
            raise Invalid(f"at most {MAX_PARTS} parts")
        repo = self.get_repository(org_id, repo_name, read_only=True)
        self.open_session(repo, session_id, read_only=True)
        grant = self._grant(
            upload_token,
            session_id=session_id,
            path=object_path,
            repository_id=str(repo.id),
            kind="multipart",
            upload_id=upload_id,
        )
        completed = sorted(
            (CompletedPart(int(p["part_number"]), unquote_etag(p["etag"])) for p in parts),
            key=lambda p: p.part_number,
        )
        try:
            info = self.blobs.complete_multipart(grant["a"], grant["u"], completed)
        except NotFound:
            # A complete refused after the store had assembled the blob (e.g. for a wrong
            # size_bytes) leaves it at the upload's own address: the same parts stage it.
            assembled = self.blobs.stat(grant["a"])
            if assembled is None or assembled.etag != _multipart_etag(completed):
                raise
            info = assembled
        return self._stage_upload(
            repo,
            session_id,
            object_path,
            grant["a"],
            info,
            checksum=None,
            size_bytes=size_bytes,
            content_type=content_type,
            metadata=metadata,
            principal=principal,
        )

    def abort_multipart(
        self,
        org_id: str,
        repo_name: str,
        session_id: str,
        path: object,
        *,
        upload_id: str,
        upload_token: object,
    ) -> None:
        object_path = check_path(path)
        repo = self.get_repository(org_id, repo_name, read_only=True)
        grant = self._grant(
            upload_token,
            session_id=session_id,
            path=object_path,
            repository_id=str(repo.id),
            kind="multipart",
            upload_id=upload_id,
        )
        self.blobs.abort_multipart(grant["a"], grant["u"])

    # -- metadata-only changes ------------------------------------------------------------
    def copy(
        self,
        org_id: str,
        repo_name: str,
        session_id: str,
        *,
        source_path: object,
        destination_path: object,
        principal: Principal,
    ) -> Result[None]:
        source = check_path(source_path, "source_path")
        destination = check_path(destination_path, "destination_path", new=True)
        repo = self.get_repository(org_id, repo_name, read_only=True)
        self.open_session(repo, session_id, read_only=True)
        entry = self.reads.session_entry(session_id, source)
        if entry is None:
            raise NotFound(f"object '{source}' not found")
        staged = staged_put(
            destination,
            address=entry["address"],
            size=int(entry["size"]),
            etag=entry["etag"],
            content_type=entry["content_type"],
            metadata=json.loads(entry["metadata"] or "{}"),
            last_modified=stamp(self.clock()),
            source_metadata=json.loads(entry["source_metadata"])
            if entry.get("source_metadata")
            else None,
        )
        return Result(None, tuple(self.stage(repo, session_id, [staged], principal.actor)))

    def delete(
        self,
        org_id: str,
        repo_name: str,
        session_id: str,
        paths: list[object],
        principal: Principal,
        *,
        require_existing: bool,
    ) -> Result[int]:
        """Stage tombstones for the paths that exist in the session; how many were staged."""
        checked = list(dict.fromkeys(check_path(p) for p in paths))
        repo = self.get_repository(org_id, repo_name, read_only=True)
        self.open_session(repo, session_id, read_only=True)
        now = stamp(self.clock())
        existing = [p for p in checked if self.reads.session_entry(session_id, p) is not None]
        if require_existing and not existing:
            raise NotFound(f"object '{checked[0]}' not found")
        written: list[Written] = []
        if existing:
            written = self.stage(
                repo, session_id, [staged_delete(p, now) for p in existing], principal.actor
            )
        return Result(len(existing), tuple(written))
