"""Azure Blob Storage: list blobs (``?restype=container&comp=list`` XML) and download (with ranges)."""

from __future__ import annotations

import email.utils
import hashlib
import re
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response

from aifinops.emulator.state import EmulatedBlob, EmulatorState

__all__ = ["blob_error", "blob_headers", "etag", "get_blob", "list_blobs"]

_API_VERSION = "2025-01-05"
_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


def blob_headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        "x-ms-version": _API_VERSION,
        "x-ms-request-id": "00000000-0000-0000-0000-000000000000",
        "Server": "Windows-Azure-Blob/1.0",
        **(extra or {}),
    }


def blob_error(status: int, code: str, message: str) -> Response:
    body = (
        f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code>'
        f"<Message>{escape(message)}</Message></Error>"
    )
    return Response(
        body, status, headers=blob_headers({"x-ms-error-code": code}), media_type="application/xml"
    )


def etag(blob: EmulatedBlob) -> str:
    return '"0x' + hashlib.sha256(blob.content).hexdigest()[:15].upper() + '"'


def list_blobs(request: Request, state: EmulatorState, account: str, container: str) -> Response:
    """``GET /{account}/{container}?restype=container&comp=list`` (prefix, delimiter, marker, maxresults)."""
    params = request.query_params
    if params.get("restype") != "container" or params.get("comp") != "list":
        return blob_error(
            400, "InvalidQueryParameterValue", "Use ?restype=container&comp=list to list blobs."
        )
    names = sorted(n for (a, c, n) in state.blobs if a == account and c == container)
    if not names and (account, container) not in state.containers:
        return blob_error(404, "ContainerNotFound", "The specified container does not exist.")
    prefix, delimiter = params.get("prefix", ""), params.get("delimiter", "")
    marker, limit = params.get("marker", ""), int(params.get("maxresults", "5000"))
    entries: list[str] = []
    seen_prefixes: set[str] = set()
    next_marker = ""
    for name in (n for n in names if n.startswith(prefix) and n >= marker):
        if len(entries) == limit:
            next_marker = name
            break
        cut = name.find(delimiter, len(prefix)) if delimiter else -1
        if cut >= 0:
            virtual = name[: cut + len(delimiter)]
            if virtual not in seen_prefixes:
                seen_prefixes.add(virtual)
                entries.append(f"<BlobPrefix><Name>{escape(virtual)}</Name></BlobPrefix>")
            continue
        entries.append(_blob_xml(name, state.blobs[(account, container, name)]))
    endpoint = f"{request.url.scheme}://{request.url.netloc}/blob/{account}/"
    body = (
        f'<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="{escape(endpoint)}" '
        f'ContainerName="{escape(container)}">'
        + (f"<Prefix>{escape(prefix)}</Prefix>" if prefix else "")
        + (f"<Marker>{escape(marker)}</Marker>" if marker else "")
        + (f"<MaxResults>{limit}</MaxResults>" if "maxresults" in params else "")
        + (f"<Delimiter>{escape(delimiter)}</Delimiter>" if delimiter else "")
        + "<Blobs>"
        + "".join(entries)
        + "</Blobs>"
        + (f"<NextMarker>{escape(next_marker)}</NextMarker>" if next_marker else "<NextMarker />")
        + "</EnumerationResults>"
    )
    return Response(body, 200, headers=blob_headers(), media_type="application/xml")


def _blob_xml(name: str, blob: EmulatedBlob) -> str:
    modified = email.utils.format_datetime(blob.last_modified, usegmt=True)
    return (
        f"<Blob><Name>{escape(name)}</Name><Properties><Creation-Time>{modified}</Creation-Time>"
        f"<Last-Modified>{modified}</Last-Modified><Etag>{etag(blob)}</Etag>"
        f"<Content-Length>{len(blob.content)}</Content-Length><Content-Type>{escape(blob.content_type)}"
        "</Content-Type><Content-Encoding /><Content-Language /><Content-CRC64 /><Content-MD5 />"
        "<Cache-Control /><Content-Disposition /><BlobType>BlockBlob</BlobType><AccessTier>Hot</AccessTier>"
        "<AccessTierInferred>true</AccessTierInferred><LeaseStatus>unlocked</LeaseStatus>"
        "<LeaseState>available</LeaseState><ServerEncrypted>true</ServerEncrypted></Properties>"
        "<OrMetadata /></Blob>"
    )


def get_blob(request: Request, state: EmulatorState, account: str, container: str, name: str) -> Response:
    """``GET``/``HEAD`` one blob; honours ``x-ms-range``/``Range`` with 206 and ``Content-Range``."""
    blob = state.blobs.get((account, container, name))
    if blob is None:
        return blob_error(404, "BlobNotFound", "The specified blob does not exist.")
    content, status = blob.content, 200
    headers = blob_headers(
        {
            "ETag": etag(blob),
            "Last-Modified": email.utils.format_datetime(blob.last_modified, usegmt=True),
            "x-ms-creation-time": email.utils.format_datetime(blob.last_modified, usegmt=True),
            "x-ms-blob-type": "BlockBlob",
            "Accept-Ranges": "bytes",
            "x-ms-lease-status": "unlocked",
            "x-ms-lease-state": "available",
            "x-ms-server-encrypted": "true",
        }
    )
    wanted = request.headers.get("x-ms-range") or request.headers.get("range")
    match = _RANGE.match(wanted or "")
    if match and content:
        first = int(match.group(1))
        if first >= len(content):
            return blob_error(
                416, "InvalidRange", "The range specified is invalid for the current size of the resource."
            )
        last = min(int(match.group(2)) if match.group(2) else len(content) - 1, len(content) - 1)
        content, status = content[first : last + 1], 206
        headers["Content-Range"] = f"bytes {first}-{last}/{len(blob.content)}"
    headers["Content-Length"] = str(len(content))
    body = b"" if request.method == "HEAD" else content
    return Response(body, status, headers=headers, media_type=blob.content_type)
