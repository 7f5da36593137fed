"""A lean keep-alive HTTP/1.1 transport for the gateway's ``httpx.AsyncClient`` (asyncio + httptools).

httpcore's pool scans every pooled connection (and polls its socket) on each request start and end, and
one of those scans is quadratic; at 64 concurrent upstream calls that cost more CPU than the proxying.
This transport keeps a LIFO list of idle connections per origin, so checkout and return are O(1), and it
streams response bodies chunk by chunk with read back-pressure. It speaks only what the gateway sends: a
request with a complete body (content-length) and a response with content-length, chunked or close framing.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator

import httptools
import httpx

__all__ = ["UpstreamTransport"]

_HIGH_WATER = 1 << 20  # pause reading the upstream when this much body is buffered and unread
_LOW_WATER = 1 << 16
_DEFAULT_PORTS = {b"http": 80, b"https": 443}
_Origin = tuple[bytes, str, int]


class _Connection(asyncio.Protocol):
    """One upstream connection carrying one request at a time; parser callbacks fill the response state."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future[None] | None = None
        self._reset()

    def _reset(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.headers_done = False
        self.complete = False
        self.keep_alive = True
        self.error: Exception | None = None
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.paused = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"invalid HTTP response from upstream: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.headers_done and not self.complete and not self.parser.should_keep_alive():
            self.complete = True  # a close-delimited body ends with the connection
            self._wake()
        elif not self.complete:
            self._fail(
                httpx.RemoteProtocolError(f"upstream closed the connection mid-response ({exc or 'EOF'})")
            )

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()
        self.headers_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > _HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        self.complete = True
        self._wake()

    # used by the transport
    def send(self, head: bytes, body: bytes) -> None:
        self._reset()
        assert self.transport is not None
        self.transport.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            self.transport.write(body)

    async def read_headers(self, timeout: float | None) -> None:
        while not self.headers_done:
            await self._wait(timeout)

    async def body(self, timeout: float | None) -> AsyncIterator[bytes]:
        while True:
            while self.chunks:
                chunk = self.chunks.popleft()
                self.buffered -= len(chunk)
                if self.paused and self.buffered < _LOW_WATER and self.transport is not None:
                    self.paused = False
                    self.transport.resume_reading()
                yield chunk
            if self.complete:
                return
            await self._wait(timeout)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, exc: Exception) -> None:
        self.error = exc
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _wait(self, timeout: float | None) -> None:
        if self.error is not None:
            raise self.error
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout):
                await self._waiter
        except TimeoutError as exc:
            self.close()
            raise httpx.ReadTimeout(f"upstream sent nothing for {timeout} s") from exc
        finally:
            self._waiter = None
        if self.error is not None and not self.chunks and not self.complete:
            raise self.error


class _Body(httpx.AsyncByteStream):
    """The response body; closing it returns the connection to the pool when the response was read fully."""

    def __init__(
        self, pool: UpstreamTransport, conn: _Connection, origin: _Origin, timeout: float | None
    ) -> None:
        self._pool, self._conn, self._origin, self._timeout = pool, conn, origin, timeout
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._conn.body(self._timeout):
            yield chunk

    async def aclose(self) -> None:
        if not self._done:
            self._done = True
            self._pool.checkin(self._origin, self._conn)


class UpstreamTransport(httpx.AsyncBaseTransport):
    """Pooled HTTP/1.1 connections to the upstreams; ``max_connections`` caps calls in flight."""

    def __init__(
        self,
        *,
        max_connections: int = 256,
        keepalive_expiry: float = 4.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._slots = asyncio.Semaphore(max_connections)
        self._max_idle = max_connections
        self._expiry = keepalive_expiry
        self._ssl = ssl_context
        self._in_use: set[_Connection] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        url = request.url
        origin = (url.raw_scheme, url.host, url.port or _DEFAULT_PORTS.get(url.raw_scheme, 80))
        body = await request.aread()
        await self._acquire_slot(timeouts.get("pool"))
        conn: _Connection | None = None
        try:
            conn = self._checkout(origin) or await self._connect(origin, timeouts.get("connect"))
            conn.send(_head(request, len(body)), body)
            await conn.read_headers(timeouts.get("read"))
        except BaseException:
            if conn is not None:
                conn.close()
                self._in_use.discard(conn)
            self._slots.release()
            raise
        return httpx.Response(
            conn.status,
            headers=conn.headers,
            stream=_Body(self, conn, origin, timeouts.get("read")),
            extensions={"http_version": b"HTTP/1.1"},
        )

    def checkin(self, origin: _Origin, conn: _Connection) -> None:
        self._in_use.discard(conn)
        self._slots.release()
        idle = self._idle.setdefault(origin, [])
        if conn.complete and conn.keep_alive and not conn.closed and len(idle) < self._max_idle:
            conn.idle_since = time.monotonic()
            idle.append(conn)
        else:
            conn.close()

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
        for conn in list(self._in_use):
            conn.close()

    async def _acquire_slot(self, timeout: float | None) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self._slots.acquire()
        except TimeoutError as exc:
            raise httpx.PoolTimeout(f"no upstream connection slot free within {timeout} s") from exc

    def _checkout(self, origin: _Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            conn = idle.pop()  # LIFO: the most recently used connection is the least likely to be closed
            if not conn.closed and now - conn.idle_since < self._expiry:
                self._in_use.add(conn)
                return conn
            conn.close()
        return None

    async def _connect(self, origin: _Origin, timeout: float | None) -> _Connection:
        scheme, host, port = origin
        context = (self._ssl or _default_ssl()) if scheme == b"https" else None
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, conn = await loop.create_connection(
                    _Connection, host, port, ssl=context, server_hostname=host if context else None
                )
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} took over {timeout} s") from exc
        except OSError as exc:
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {exc}") from exc
        self._in_use.add(conn)
        return conn


def _head(request: httpx.Request, length: int) -> bytes:
    parts = [request.method.encode(), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
    has_length = False
    for name, value in request.headers.raw:
        lowered = name.lower()
        if lowered == b"transfer-encoding":
            continue  # the body is sent whole, with a content-length
        has_length = has_length or lowered == b"content-length"
        parts += [name, b": ", value, b"\r\n"]
    if not has_length:
        parts.append(b"content-length: %d\r\n" % length)
    parts.append(b"\r\n")
    return b"".join(parts)


_SSL: list[ssl.SSLContext] = []


def _default_ssl() -> ssl.SSLContext:
    if not _SSL:
        import certifi

        _SSL.append(ssl.create_default_context(cafile=certifi.where()))
    return _SSL[0]
