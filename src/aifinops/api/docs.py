"""``/docs``: Swagger UI over ``/openapi.json``, served from files shipped in this package (no CDN).

Swagger UI's files are vendored from the npm package ``swagger-ui-dist`` (see ``swagger/README.md``); the
page and its start script are ours. A Content-Security-Policy keeps every load on this origin, so the page
works on a machine without internet and contacts no outside host.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import Response

from aifinops.api.problems import ProblemError

__all__ = ["DOCS_CONTENT_SECURITY_POLICY", "router"]

router = APIRouter(include_in_schema=False)

_FILES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "docs-init.js": "text/javascript; charset=utf-8",
}
#: Swagger UI sets style attributes and draws data: images; everything else is this origin only.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


@lru_cache(maxsize=8)
def _read(name: str) -> tuple[bytes, str]:
    path = resources.files("aifinops.api").joinpath("swagger", name)
    if not path.is_file():
        raise ProblemError(
            500,
            "API docs missing",
            f"swagger/{name} is not in the installed aifinops package; reinstall aifinops",
        )
    body = path.read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _answer(request: Request, name: str, media_type: str) -> Response:
    body, etag = _read(name)
    headers = {
        "Content-Security-Policy": DOCS_CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
        "ETag": etag,
    }
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


@router.api_route("/docs", methods=["GET", "HEAD"])
async def docs_page(request: Request) -> Response:
    """Swagger UI over /openapi.json."""
    return _answer(request, "docs.html", "text/html; charset=utf-8")


@router.api_route("/docs/{name}", methods=["GET", "HEAD"])
async def docs_file(name: str, request: Request) -> Response:
    """One file of the API docs page, by plain file name."""
    media_type = _FILES.get(name)
    if media_type is None:
        raise ProblemError(404, "Unknown file", f"no API docs file {name!r}; the docs serve {sorted(_FILES)}")
    return _answer(request, name, media_type)
