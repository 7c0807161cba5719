"""`/_blob/…`: the local blob store's signed upload and download URLs (outside /api/v1).

The signature in the URL is the credential (clients send no Authorization header), so every
route declares the public `TransferBlob` action and trusts only what the token grants.
Downloads are user-supplied bytes: besides the sandboxing CSP and `nosniff` the app gives every
`/_blob` response (`interfaces/http/security_headers.py`), any type a browser could run script
in is sent as an attachment.
"""

from __future__ import annotations

import asyncio
import collections
import mmap
import re
from collections.abc import AsyncIterator
from typing import Any, BinaryIO

import anyio.to_thread
from litestar import Controller, Request, Response, get, head, put
from litestar.exceptions import InternalServerException
from litestar.params import FromPath
from litestar.response import Stream

from application.ports import BlobInfo
from domain.catalog import media_types
from domain.shared.errors import Invalid, NotFound
from infra.localfs import LocalBlobStore
from infra.localfs.files import BlobWriter
from infra.localfs.signing import DOWNLOAD, PART, UPLOAD, Grant
from interfaces.http.errors import error_response

# Large chunks keep per-chunk overhead (thread hops, ASGI messages) small next to the copying.
CHUNK = 1 << 20
# A streamed body is hashed and written in batches of this size, while the next arrives:
# 4 MiB rather than 1 MiB hands a 64 MiB part to the threads 16 times instead of 64 (SDK
# upload of 128 MiB, alternating runs: 323-419 MB/s at 1 MiB, 353-433 MB/s at 4 MiB; 8 MiB
# was no better). Two batches at most are held at once.
PUMP_BATCH = 4 * CHUNK
MAX_BODY = 5 * 1024**3  # S3's limit for one PUT or one part, so both stores accept the same
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
# 19 digits cover any real offset (2**63 has 19) and keep int() far from Python's digit limit.
MAX_DIGITS = 19
UNSATISFIABLE = (-1, -1)


def _store(request: Request[Any, Any, Any]) -> LocalBlobStore:
    store = getattr(request.app.state.container, "blobs", None)
    if not isinstance(store, LocalBlobStore):
        raise NotFound("this server does not serve blob transfers; blobs live in S3")
    return store


# The pump's batch buffers, kept for the next upload: on the VMs here a fresh page costs
# several times one already touched. At most this many are kept (two per upload in flight).
_SPARE_BUFFERS: collections.deque[mmap.mmap] = collections.deque()
_SPARE_MAX = 8


def _batch_buffer() -> mmap.mmap:
    try:
        return _SPARE_BUFFERS.pop()
    except IndexError:
        return mmap.mmap(-1, PUMP_BATCH)  # page-aligned, as direct I/O wants


async def _pump(request: Request[Any, Any, Any], writer: BlobWriter) -> None:
    """Receive the next batch (`PUMP_BATCH`) while one worker thread hashes the previous one
    and another writes it (MD5, at ≈ 0.8 GB/s on one core, would otherwise set the pace
    alone).

    The loop copies what arrives into one of two page-aligned buffers, so each thread gets
    one buffer per batch, not the ~256 KiB pieces uvicorn hands over: after each piece the
    hashing thread had to win the GIL back from the busy loop, which made the MD5 of a 64 MiB
    part take ~130 ms of wall time for ~90 ms of CPU (~100 ms now), and a direct writer sends
    an aligned batch to the disk as it is instead of copying it into a buffer of its own
    (the copy moved to the loop, which had time to spare waiting for the hash)."""
    loop = asyncio.get_running_loop()
    buffers = [_batch_buffer(), _batch_buffer()]
    current, filled = 0, 0
    writing: asyncio.Future[Any] | None = None

    def both(batch: memoryview) -> asyncio.Future[Any]:
        return asyncio.gather(
            loop.run_in_executor(None, writer.hash_all, [batch]),
            loop.run_in_executor(None, writer.store_aligned, batch),
        )

    try:
        # Awaited shielded: a cancelled request must not mark a batch done while its threads
        # still hash and write it (`finally` waits for them before the file is discarded).
        async for chunk in request.stream():
            piece = memoryview(chunk)
            while piece:
                n = min(len(piece), PUMP_BATCH - filled)
                buffers[current][filled : filled + n] = piece[:n]
                filled += n
                piece = piece[n:]
                if filled == PUMP_BATCH:
                    if writing is not None:  # the other buffer's batch: once done, it is free
                        await asyncio.shield(writing)
                    writing = both(memoryview(buffers[current]))
                    current, filled = 1 - current, 0  # the next batch goes to the free one
        if writing is not None:
            await asyncio.shield(writing)
        if filled:
            writing = both(memoryview(buffers[current])[:filled])
            await asyncio.shield(writing)
    finally:
        if writing is not None and not writing.done():
            await asyncio.wait([writing])  # never discard a file a thread still writes to
        if writing is None or writing.done():  # no thread reads them any more
            for buffer in buffers:
                if len(_SPARE_BUFFERS) < _SPARE_MAX:
                    _SPARE_BUFFERS.append(buffer)


def _declared_length(request: Request[Any, Any, Any]) -> int | None:
    expected = request.headers.get("content-length")
    if expected is None or not (expected.isascii() and expected.isdigit()):
        return None
    return int(expected) if len(expected) <= MAX_DIGITS else None


async def _receive(request: Request[Any, Any, Any], operation: str, token: str) -> Response[bytes]:
    """Stream the body into the store; answer the quoted ETag S3 would."""
    store = _store(request)
    grant = store.verify(operation, token)
    declared = _declared_length(request)
    if declared is not None and declared <= CHUNK:
        # A small body (most objects) arrives whole on the loop, then one thread hop writes,
        # fsyncs and publishes it: no scratch file opened in one hop and filled in others.
        try:
            body = await request.body()
        except InternalServerException as e:  # Litestar's "client disconnected prematurely"
            raise Invalid("the request body ended early; nothing was stored") from e
        if len(body) != declared:
            raise Invalid(f"received {len(body)} bytes, Content-Length said {declared}")
        # The hop owns all it touches (a cancelled request leaves it to finish and publish), so
        # the loop's executor does: anyio's cancel scope and limiter cost more than the write.
        loop = asyncio.get_running_loop()
        return _stored(await loop.run_in_executor(None, store.store, grant, body))
    writer = await anyio.to_thread.run_sync(store.receive, grant)
    committed = False
    try:
        try:
            await _pump(request, writer)
        except InternalServerException as e:  # Litestar's "client disconnected prematurely"
            raise Invalid("the request body ended early; nothing was stored") from e
        expected = request.headers.get("content-length")
        if expected is not None and (
            not (expected.isascii() and expected.isdigit())
            or len(expected) > MAX_DIGITS
            or int(expected) != writer.size
        ):
            raise Invalid(f"received {writer.size} bytes, Content-Length said {expected[:24]}")
        info: BlobInfo = await anyio.to_thread.run_sync(writer.commit)
        committed = True
    finally:
        if not committed:
            writer.discard()
    return _stored(info)


def _stored(info: BlobInfo) -> Response[bytes]:
    return Response(
        b"", status_code=200, headers={"ETag": f'"{info.etag}"'}, media_type="text/plain"
    )


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive span one `Range: bytes=…` asks for; None = whole body; UNSATISFIABLE."""
    match = _RANGE.fullmatch((header or "").strip())
    if not match or match.groups() == ("", ""):
        return None  # absent, multi-range or malformed: RFC 9110 lets us send it all
    first, last = match.groups()
    if len(first) > MAX_DIGITS or len(last) > MAX_DIGITS:
        return UNSATISFIABLE
    if not first:
        suffix = int(last)
        return (max(0, size - suffix), size - 1) if suffix and size else UNSATISFIABLE
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if last and int(last) < start:
        return None
    return (start, end) if start < size else UNSATISFIABLE


# A download reads this much per hop to a worker thread: 4 MiB instead of 1 MiB cut the
# server's CPU per MiB sent by about 40 % (fewer hops and fewer trips through uvicorn's send).
DOWNLOAD_CHUNK = 4 << 20


async def _chunks(reader: BinaryIO) -> AsyncIterator[bytes]:
    """The reader's bytes, each read on a worker thread (the loop's executor: anyio's cancel
    scope and limiter cost more than a page-cache read)."""
    loop = asyncio.get_running_loop()
    reading: asyncio.Future[bytes] | None = None
    try:
        while True:
            reading = loop.run_in_executor(None, reader.read, DOWNLOAD_CHUNK)
            # Shielded: cancelling the download must not mark the read done while its
            # thread still reads (`finally` waits for it).
            chunk = await asyncio.shield(reading)
            if not chunk:
                return
            yield chunk
    finally:
        if reading is not None and not reading.done():
            await asyncio.wait([reading])  # never close a file a thread still reads
        reader.close()


class BlobsController(Controller):
    """PUT bodies to `/_blob/u|p/{token}`, GET or HEAD them from `/_blob/d/{token}`."""

    path = "/_blob"
    include_in_schema = False
    request_max_body_size = MAX_BODY

    @put("/u/{token:str}", opt={"action": "TransferBlob"}, operation_id="blobUpload")
    async def upload(
        self, token: FromPath[str], request: Request[Any, Any, Any]
    ) -> Response[bytes]:
        return await _receive(request, UPLOAD, token)

    @put("/p/{token:str}", opt={"action": "TransferBlob"}, operation_id="blobUploadPart")
    async def upload_part(
        self, token: FromPath[str], request: Request[Any, Any, Any]
    ) -> Response[bytes]:
        return await _receive(request, PART, token)

    @get("/d/{token:str}", opt={"action": "TransferBlob"}, operation_id="blobDownload")
    async def download(
        self, token: FromPath[str], request: Request[Any, Any, Any]
    ) -> Response[Any]:
        store = _store(request)
        grant = store.verify(DOWNLOAD, token)
        info = await self._stat(store, grant)
        headers = _headers(grant, info)
        media_type = headers.pop("Content-Type")
        span = byte_range(request.headers.get("range"), info.size)
        if span == UNSATISFIABLE:
            refused = {"Accept-Ranges": "bytes", "Content-Range": f"bytes */{info.size}"}
            return error_response(request, 416, "the range is outside the blob", None, refused)
        start, end = span or (0, None)
        reader = await anyio.to_thread.run_sync(store.open, grant.address, start, end)
        if span:
            headers["Content-Range"] = f"bytes {start}-{end}/{info.size}"
            headers["Content-Length"] = str(span[1] - start + 1)
        return Stream(
            _chunks(reader),
            status_code=206 if span else 200,
            headers=headers,
            media_type=media_type,
        )

    @head("/d/{token:str}", opt={"action": "TransferBlob"}, operation_id="blobHead")
    async def head_blob(
        self, token: FromPath[str], request: Request[Any, Any, Any]
    ) -> Response[None]:
        store = _store(request)
        grant = store.verify(DOWNLOAD, token)
        info = await self._stat(store, grant)
        headers = _headers(grant, info)
        return Response(None, status_code=200, headers=headers)

    @staticmethod
    async def _stat(store: LocalBlobStore, grant: Grant) -> BlobInfo:
        info = await anyio.to_thread.run_sync(store.stat, grant.address)
        if info is None:
            raise NotFound("no blob is stored at this address")
        return info


def _headers(grant: Grant, info: BlobInfo) -> dict[str, str]:
    content_type = media_types.servable(grant.content_type)
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": f'"{info.etag}"',
        "Content-Length": str(info.size),
        "Cache-Control": f"private, max-age={grant.seconds_left()}",
        "Content-Type": content_type,
    }
    if not media_types.is_safe_inline(content_type):
        headers["Content-Disposition"] = "attachment"
    return headers
