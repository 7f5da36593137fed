"""The dashboard: one page at ``/`` and its files under ``/static/``, all shipped in the package.

The page holds no data: its script reads the JSON API (``/api/snapshot``, ``/api/kpis``, ``/api/costs``,
``/api/token-usage``, ``/api/tasks``) with the caller's own key, so the page itself needs no scope.
Every file comes from this package (no CDN, no build step); a Content-Security-Policy keeps it that way.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import Response

from aifinops.api.problems import ProblemError

__all__ = ["CONTENT_SECURITY_POLICY", "router"]

router = APIRouter(include_in_schema=False)

_PACKAGE, _FOLDER, _PAGE = "aifinops.api", "static", "dashboard.html"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.(css|js|svg)$")
_MEDIA_TYPES = {
    "css": "text/css; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "svg": "image/svg+xml",
}
#: Only this origin may serve scripts, styles, images and answer fetches; nothing may frame the page.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidate every time: an upgraded package must never run with a stale script.
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True, slots=True)
class _File:
    body: bytes
    etag: str


@lru_cache(maxsize=16)
def _read(name: str) -> _File | None:
    """One packaged file with its ETag, read once per process; None when the package lacks it."""
    path = resources.files(_PACKAGE).joinpath(_FOLDER, name)
    if not path.is_file():
        return None
    body = path.read_bytes()
    return _File(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


def _answer(request: Request, file: _File, media_type: str) -> Response:
    headers = {**_HEADERS, "ETag": file.etag}
    if file.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(file.body, media_type=media_type, headers=headers)


@router.api_route("/", methods=["GET", "HEAD"], summary="The dashboard page")
async def page(request: Request) -> Response:
    """Serve the dashboard page."""
    file = _read(_PAGE)
    if file is None:
        raise ProblemError(
            500,
            "Dashboard missing",
            f"{_FOLDER}/{_PAGE} is not in the installed aifinops package; reinstall aifinops",
        )
    return _answer(request, file, "text/html; charset=utf-8")


@router.api_route("/static/{name}", methods=["GET", "HEAD"], summary="A dashboard file (style, script, icon)")
async def static_file(name: str, request: Request) -> Response:
    """Serve one file of the dashboard folder; names are plain file names, never paths."""
    match = _NAME.match(name)
    file = _read(name) if match else None
    if match is None or file is None:
        raise ProblemError(
            404,
            "Unknown file",
            f"no dashboard file {name!r}; the dashboard serves the .css, .js and .svg files of "
            f"aifinops/api/{_FOLDER}/ by plain file name",
        )
    return _answer(request, file, _MEDIA_TYPES[match.group(1)])
