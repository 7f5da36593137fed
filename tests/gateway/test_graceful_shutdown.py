"""SIGTERM to a real `aifinops gateway` process: the calls in flight finish, every event is stored once.

The upstream (the Azure OpenAI fake of ``conftest``, served over HTTP) holds every call at a gate. With all
calls in flight the gateway gets SIGTERM; it stops accepting new connections, and once the gate opens it
answers the callers, drains its recorder into the store, replays the spool a previous store outage left,
and exits with code 0. The store then holds each call's event and each spooled event exactly once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from aifinops.domain import UsageEvent
from aifinops.gateway.recorder import event_to_json
from aifinops.store import Store
from aifinops.store.keys import KeyStore
from tests.gateway.conftest import UPSTREAM_KEY, FakeAzureOpenAI
from tests.served import Served

pytestmark = pytest.mark.slow

CALLS, SPOOLED = 24, 5
CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"


class GatedUpstream:
    """The fake Azure OpenAI behind a gate: each call waits until the test opens it."""

    def __init__(self) -> None:
        self.fake = FakeAzureOpenAI()
        self.gate = threading.Event()
        self.arrived = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.arrived += 1
            while not self.gate.is_set():
                await asyncio.sleep(0.01)
        await self.fake(scope, receive, send)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what: str, check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _accepting(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _spooled_event(i: int) -> UsageEvent:
    return UsageEvent(
        event_id=f"spooled-{i}",
        ts=dt.datetime(2026, 11, 2, 9, i, tzinfo=dt.UTC),
        deployment="gpt-4o",
        model="gpt-4o",
        app="checkout",
        input_tokens=100,
        output_tokens=10,
    )


def test_sigterm_with_calls_in_flight_stores_every_event_once(sqlite_store: Store, tmp_path: Path) -> None:
    upstream = GatedUpstream()
    served = Served(upstream)
    config = tmp_path / "gateway.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "upstreams": {
                    "east": {"endpoint": served.url, "api_key": UPSTREAM_KEY, "api_version": "2024-10-21"}
                },
                "deployments": {"gpt-4o": {"upstream": "east", "model": "gpt-4o"}},
            }
        )
    )
    spool = tmp_path / "spool.jsonl"
    spool.write_bytes(b"".join(event_to_json(_spooled_event(i)) + b"\n" for i in range(SPOOLED)))
    _, secret = KeyStore(sqlite_store).create(
        name="checkout", scopes={"gateway"}, identity={"app": "checkout"}
    )
    port = _free_port()
    env = {
        "PATH": str(Path(sys.executable).parent),
        "AIFINOPS_DATABASE_URL": sqlite_store.url,
        "AIFINOPS_GATEWAY__SPOOL_PATH": str(spool),
    }
    log = tmp_path / "gateway.log"
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "aifinops"),
            "gateway",
            "--config",
            str(config),
            "--port",
            str(port),
        ],
        cwd=tmp_path,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        _wait("the gateway", lambda: _accepting(port))
        with ThreadPoolExecutor(CALLS) as pool, httpx.Client(timeout=60) as client:
            body = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 50}
            calls = [
                pool.submit(
                    client.post, f"http://127.0.0.1:{port}{CHAT}", json=body, headers={"api-key": secret}
                )
                for _ in range(CALLS)
            ]
            _wait("every call in flight", lambda: upstream.arrived == CALLS)
            proc.send_signal(signal.SIGTERM)
            _wait("the gateway to stop accepting", lambda: not _accepting(port))
            assert proc.poll() is None  # still finishing the calls in flight
            upstream.gate.set()
            answers = [c.result(60) for c in calls]
        assert proc.wait(60) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        served.stop()
    assert [a.status_code for a in answers] == [200] * CALLS
    with sqlite_store.reader() as conn:
        ids = [r[0] for r in conn.exec_driver_sql("SELECT event_id FROM usage_events").all()]
    assert len(ids) == len(set(ids)) == CALLS + SPOOLED  # none lost, none doubled
    assert {f"spooled-{i}" for i in range(SPOOLED)} <= set(ids)
    assert not spool.exists() and not spool.with_name(spool.name + ".replaying").exists()
    assert "gateway stopped after" in log.read_text()
