"""Azure Blob Storage writes: Put Blob, Put Block, Put Block List and Delete Blob on block blobs.

What azure-storage-blob's ``upload_blob`` (one Put Blob up to ``max_single_put_size``, blocks and a block
list beyond) and ``delete_blob`` send. ``If-None-Match: *`` (``overwrite=False``) refuses an existing blob
with 409 ``BlobAlreadyExists``.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import hashlib
from xml.etree import ElementTree

from starlette.requests import Request
from starlette.responses import Response

from aifinops.emulator.blob import blob_error, blob_headers, etag
from aifinops.emulator.state import EmulatedBlob, EmulatorState

__all__ = ["delete_blob", "put_blob"]


def _created(blob: EmulatedBlob | None, content: bytes | None = None) -> Response:
    extra = {"x-ms-request-server-encrypted": "true"}
    if content is not None:
        # Content-MD5 is what the service answers; MD5 here is the wire format, not security.
        extra["Content-MD5"] = base64.b64encode(hashlib.md5(content).digest()).decode()
    if blob is not None:
        extra["ETag"] = etag(blob)
        extra["Last-Modified"] = email.utils.format_datetime(blob.last_modified, usegmt=True)
    return Response(b"", 201, headers=blob_headers(extra))


def _block_list(body: bytes) -> list[str] | None:
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return None
    return [(e.text or "") for e in root if e.tag in ("Latest", "Committed", "Uncommitted")]


async def put_blob(
    request: Request, state: EmulatorState, account: str, container: str, name: str
) -> Response:
    """``PUT`` a block blob whole, one block (``comp=block``) or its block list (``comp=blocklist``)."""
    key = (account, container, name)
    body = await request.body()
    comp = request.query_params.get("comp")
    if comp == "block":
        block_id = request.query_params.get("blockid")
        if not block_id:
            return blob_error(400, "InvalidQueryParameterValue", "Put Block needs a blockid.")
        state.blocks.setdefault(key, {})[block_id] = body
        return _created(None, body)
    if request.headers.get("if-none-match") == "*" and key in state.blobs:
        return blob_error(409, "BlobAlreadyExists", "The specified blob already exists.")
    if comp == "blocklist":
        ids = _block_list(body)
        staged = state.blocks.get(key, {})
        if ids is None or any(i not in staged for i in ids):
            return blob_error(400, "InvalidBlockList", "The specified block list is invalid.")
        content = b"".join(staged[i] for i in ids)
        state.blocks.pop(key, None)
    elif comp is None:
        if request.headers.get("x-ms-blob-type") != "BlockBlob":
            return blob_error(400, "InvalidHeaderValue", "x-ms-blob-type must be BlockBlob.")
        content = body
    else:
        return blob_error(400, "InvalidQueryParameterValue", f"comp={comp} is not supported on a blob PUT.")
    content_type = (
        request.headers.get("x-ms-blob-content-type")
        or request.headers.get("content-type")
        or "application/octet-stream"
    )
    blob = EmulatedBlob(content, content_type, dt.datetime.now(dt.UTC).replace(microsecond=0))
    state.put_blob(account, container, name, blob)
    return _created(blob, content if comp is None else None)


def delete_blob(state: EmulatorState, account: str, container: str, name: str) -> Response:
    """``DELETE`` a blob: 202, or 404 ``BlobNotFound``."""
    if state.blobs.pop((account, container, name), None) is None:
        return blob_error(404, "BlobNotFound", "The specified blob does not exist.")
    return Response(b"", 202, headers=blob_headers({"x-ms-delete-type-permanent": "true"}))
