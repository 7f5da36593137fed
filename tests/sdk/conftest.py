"""Shared by the SDK tests: the aifinops ingest endpoint the Sender talks to, as an httpx handler."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest


class Ingest:
    """The aifinops ingest endpoint: records batches; can fail its first answers."""

    def __init__(self, failures: int = 0, status: int = 503) -> None:
        self.batches: list[tuple[str, list[dict[str, Any]]]] = []
        self.failures, self.status, self.auth = failures, status, set[str]()
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.auth.add(request.headers.get("authorization", ""))
            if self.failures:
                self.failures -= 1
                return httpx.Response(self.status, json={"title": "Store unavailable"})
            kind = request.url.path.rsplit("/", 1)[-1]
            self.batches.append((kind, json.loads(request.content)[kind]))
        return httpx.Response(200, json={"accepted": 1, "duplicates": 0, "rejected": []})

    def items(self, kind: str) -> list[dict[str, Any]]:
        return [item for k, batch in self.batches if k == kind for item in batch]


@pytest.fixture
def ingest() -> Ingest:
    return Ingest()
