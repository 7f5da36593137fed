"""A local webhook receiver for the demo's alerts: verifies each HMAC signature and keeps what it received."""

from __future__ import annotations

import hmac
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from aifinops.jobs.alerts import SIGNATURE_HEADER, sign

__all__ = ["AlertReceiver", "ReceivedAlert"]


@dataclass(frozen=True, slots=True)
class ReceivedAlert:
    """One POST the receiver got: its parsed body and whether the signature matched the shared secret."""

    path: str
    body: dict[str, Any]
    raw: bytes
    signature: str
    valid: bool


class AlertReceiver:
    """``with AlertReceiver(secret) as rx:`` serves ``rx.url`` on 127.0.0.1 (a free port) until exit.

    A request with a wrong or missing signature is answered 401 and still recorded, as a receiver's log would.
    """

    def __init__(self, secret: str, *, path: str = "/aifinops/alerts") -> None:
        self.secret, self.path = secret, path
        self.received: list[ReceivedAlert] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the alert receiver is not started; use it as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self.path}"

    @property
    def verified(self) -> list[ReceivedAlert]:
        with self._lock:
            return [r for r in self.received if r.valid]

    def _record(self, path: str, raw: bytes, signature: str) -> bool:
        valid = hmac.compare_digest(signature, sign(raw, self.secret))
        try:
            body = json.loads(raw)
        except ValueError:
            body, valid = {}, False
        with self._lock:
            self.received.append(
                ReceivedAlert(path, body if isinstance(body, dict) else {}, raw, signature, valid)
            )
        return valid

    def __enter__(self) -> AlertReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                ok = self.path == receiver.path and receiver._record(
                    self.path, raw, self.headers.get(SIGNATURE_HEADER, "")
                )
                self.send_response(204 if ok else 401)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return  # the demo prints its own summary; per-request lines would garble the console

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="alert-receiver", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
