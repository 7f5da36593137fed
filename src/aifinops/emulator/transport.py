"""Drive the emulator in-process: a synchronous httpx transport over an ASGI app, and an azure-core
transport over any httpx client so azure-identity and the storage SDK reach the emulator too.

Every host is routed to the one app, which lets real clients keep their real ``https://`` URLs
(azure-identity refuses an ``http`` authority; the storage SDK refuses a bearer token over ``http``).
"""

from __future__ import annotations

import io
from typing import Any

import httpx
import requests
import urllib3
from anyio.from_thread import BlockingPortal, start_blocking_portal
from azure.core.pipeline.transport import RequestsTransport
from requests.adapters import HTTPAdapter
from starlette.types import ASGIApp
from urllib3 import HTTPHeaderDict

__all__ = ["SyncASGITransport", "azure_transport"]


class SyncASGITransport(httpx.BaseTransport):
    """``httpx.Client(transport=SyncASGITransport(app))``: the async ASGI app run on a private event loop.

    The loop lives in a worker thread until :meth:`close` (``httpx.Client`` closes its transport on exit).
    """

    def __init__(self, app: ASGIApp) -> None:
        self._inner = httpx.ASGITransport(app=app)
        self._portal_cm = start_blocking_portal()
        self._portal: BlockingPortal = self._portal_cm.__enter__()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()  # a read request carries a ByteStream, which the async transport can consume
        status, headers, content = self._portal.call(self._send, request)
        return httpx.Response(status, headers=headers, content=content, request=request)

    async def _send(self, request: httpx.Request) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        response = await self._inner.handle_async_request(request)
        content = await response.aread()
        await response.aclose()
        return response.status_code, response.headers.raw, content

    def close(self) -> None:
        self._portal_cm.__exit__(None, None, None)


class _HttpxAdapter(HTTPAdapter):
    """A requests adapter that hands every request to an httpx client."""

    def __init__(self, client: httpx.Client) -> None:
        super().__init__()
        self._client = client

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        reply = self._client.request(
            str(request.method), str(request.url), headers=_text_headers(request), content=_body(request)
        )
        raw = urllib3.HTTPResponse(
            body=io.BytesIO(reply.content),
            headers=HTTPHeaderDict(reply.headers.multi_items()),
            status=reply.status_code,
            reason=reply.reason_phrase,
            preload_content=False,
            decode_content=False,
            request_method=str(request.method),  # a HEAD reply announces a length but has no body
        )
        return self.build_response(request, raw)


def _body(request: requests.PreparedRequest) -> bytes | None:
    body: Any = request.body
    if body is None or isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return b"".join(c.encode("utf-8") if isinstance(c, str) else bytes(c) for c in body)  # a chunked upload


def _text_headers(request: requests.PreparedRequest) -> dict[str, str]:
    return {k: v.decode("latin-1") if isinstance(v, bytes) else v for k, v in request.headers.items()}


def azure_transport(client: httpx.Client) -> RequestsTransport:
    """An azure-core transport for SDK clients (``transport=``) that sends through ``client``."""
    session = requests.Session()
    session.trust_env = False  # never pick up proxies or netrc from the environment in tests
    adapter = _HttpxAdapter(client)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return RequestsTransport(session=session, session_owner=False)
