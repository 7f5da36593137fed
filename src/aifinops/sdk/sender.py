"""The background sender: events and outcomes posted in batches, with retries and a bounded buffer."""

from __future__ import annotations

import atexit
import json
import logging
import threading
from collections import deque
from collections.abc import Mapping
from typing import Any

import httpx

__all__ = ["Sender"]

_log = logging.getLogger("aifinops.sdk")
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
# The server refused the batch as a whole (malformed, too large, wrong shape): halves may pass.
_SPLIT_STATUSES = frozenset({400, 413, 422})


class Sender:
    """Sends events and outcomes in batches from one daemon thread, with retries and a bounded buffer."""

    def __init__(
        self,
        url: str,
        *,
        ingest_key: str | None = None,
        http_client: httpx.Client | None = None,
        max_buffer: int = 10_000,
        batch_size: int = 500,
        flush_interval: float = 2.0,
        max_retries: int = 5,
        backoff: float = 0.5,
    ) -> None:
        self._headers = {"authorization": f"Bearer {ingest_key}"} if ingest_key else {}
        self._http = http_client or httpx.Client(timeout=10.0)
        self._url = url.rstrip("/")
        self._queues: dict[str, deque[dict[str, Any]]] = {"events": deque(), "outcomes": deque()}
        self._max_buffer, self._batch, self._interval = max_buffer, batch_size, flush_interval
        self._retries, self._backoff = max_retries, backoff
        self._wake, self._stop, self._idle = threading.Event(), threading.Event(), threading.Event()
        self._lock = threading.Lock()
        self.stats = {"sent": 0, "dropped_full": 0, "dropped_failed": 0, "rejected": 0, "retries": 0}
        self._thread = threading.Thread(target=self._run, name="aifinops-sender", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def send_event(self, event: Mapping[str, Any]) -> None:
        self._put("events", dict(event))

    def send_outcome(self, outcome: Mapping[str, Any]) -> None:
        self._put("outcomes", dict(outcome))

    def _put(self, kind: str, item: dict[str, Any]) -> None:
        queue = self._queues[kind]
        with self._lock:
            if len(queue) >= self._max_buffer:
                queue.popleft()  # the oldest goes: recent usage matters more to limits and alerts
                self.stats["dropped_full"] += 1
            queue.append(item)
            self._idle.clear()
        if len(queue) >= self._batch:
            self._wake.set()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wake the sender and wait until both buffers are empty; False on timeout."""
        self._wake.set()
        return self._idle.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Send what is buffered (within ``timeout``) and stop the thread. Safe to call twice."""
        if self._stop.is_set():
            return
        self.flush(timeout)
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        atexit.unregister(self.close)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            try:
                self._drain()
            except Exception:  # the thread must outlive any surprise, or every later event would be lost
                _log.exception("aifinops: the event sender failed; it keeps running")

    def _drain(self) -> None:
        for kind, queue in self._queues.items():
            while queue and not self._stop.is_set():
                with self._lock:
                    batch = [queue.popleft() for _ in range(min(self._batch, len(queue)))]
                self._post(kind, batch)
        with self._lock:
            if not any(self._queues.values()):
                self._idle.set()

    def _post(self, kind: str, batch: list[dict[str, Any]]) -> None:
        """Send ``batch``; a batch the server refuses as a whole is split in halves until only the items it
        refuses alone are left, so one bad item never costs the good ones."""
        parts = [batch]
        while parts:
            part = parts.pop()
            if self._send(kind, part) != "split":
                continue
            if len(part) == 1:
                self.stats["rejected"] += 1
                continue
            middle = len(part) // 2
            parts += [part[middle:], part[:middle]]  # the first half goes first

    def _send(self, kind: str, batch: list[dict[str, Any]]) -> str:
        """Post one batch with retries: "done", "split" (refused as a whole) or "failed" (dropped)."""
        try:
            body = json.dumps({kind: batch}).encode()
        except (TypeError, ValueError) as exc:
            _log.error("aifinops: %d %s cannot be sent as JSON: %s", len(batch), kind, exc)
            return "split"
        headers = {**self._headers, "content-type": "application/json"}
        for attempt in range(self._retries + 1):
            try:
                response = self._http.post(f"{self._url}/api/{kind}", content=body, headers=headers)
            except httpx.HTTPError as exc:
                _log.warning("aifinops: sending %d %s failed: %s", len(batch), kind, exc)
            else:
                if response.status_code < 300:
                    self.stats["sent"] += len(batch)
                    self.stats["rejected"] += _rejected(response)
                    return "done"
                if response.status_code in _SPLIT_STATUSES:
                    _log.warning(
                        "aifinops: %s refused %d %s (%d): %s",
                        self._url,
                        len(batch),
                        kind,
                        response.status_code,
                        response.text[:500],
                    )
                    return "split"
                if response.status_code not in _RETRY_STATUSES:
                    _log.error(
                        "aifinops: %s refused %d %s: %s", self._url, len(batch), kind, response.text[:500]
                    )
                    self.stats["rejected"] += len(batch)
                    return "done"
            if attempt < self._retries:
                self.stats["retries"] += 1
                # Event ids make a re-sent batch count once, so retrying after a lost reply is safe.
                if self._stop.wait(self._backoff * 2**attempt):
                    break
        self.stats["dropped_failed"] += len(batch)
        return "failed"


def _rejected(response: httpx.Response) -> int:
    """How many items of an accepted batch the ingest API still refused: its ``rejected`` count, or the
    distinct indexes of its per-item ``errors``."""
    try:
        report = response.json()
    except ValueError:
        return 0
    if not isinstance(report, dict):
        return 0
    rejected = report.get("rejected")
    if isinstance(rejected, int) and not isinstance(rejected, bool):
        return rejected
    errors = rejected if isinstance(rejected, list) else report.get("errors")
    return len({r.get("index") for r in errors if isinstance(r, dict)}) if isinstance(errors, list) else 0
