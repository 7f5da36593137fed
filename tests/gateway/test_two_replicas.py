"""Two gateway processes share one Redis: RPM, TPM, steps and money limits hold across both.

Each replica is a uvicorn process serving the real gateway (``gateway.app.create_gateway``) with the real
Enforcer over RedisCounters, in front of the Azure OpenAI emulator of ``tests/gateway/conftest.py`` (every
chat answer reports 1200 input and 300 output tokens). Requests alternate between the replicas, 16 in flight.

Overshoot bound: charges are reserved at their worst case before forwarding, so RPM and steps never
overshoot, and TPM and money never overshoot while calls stay within their estimate. A call whose real input
is larger than the offline estimate adds its excess, so the overshoot is at most the calls in flight × the
excess of one call; the last test measures it with a 7-token estimate for a 1200-token prompt.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from aifinops.domain import MeterKind, Price
from aifinops.engine.limit_policies import TokenPrices

pytestmark = [pytest.mark.redis, pytest.mark.slow]

REDIS_URL = os.environ.get("AIFINOPS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
ROOT = Path(__file__).resolve().parents[2]
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
PRICES = {
    "gpt-4o": TokenPrices(
        Price("gpt-4o", MeterKind.INPUT, Decimal("2.50"), "USD", T0),
        Price("gpt-4o", MeterKind.OUTPUT, Decimal("10"), "USD", T0),
    )
}


def _prices(deployment: str, **_tiers: object) -> TokenPrices | None:
    """The lookup the enforcer asks: these prices whatever the call's tiers."""
    return PRICES.get(deployment)


CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
IN_FLIGHT = 16
LONG_PROMPT = [{"role": "user", "content": "x" * 4800}]  # estimated at 1204 tokens; the emulator meters 1200
SHORT_PROMPT = [{"role": "user", "content": "Say hello"}]  # estimated at 7 tokens; metered 1200
METERED_TOKENS, METERED_COST = 1500, Decimal("0.006")  # 1200 × 2.50/1M + 300 × 10/1M
POLICIES = {
    "policies": {
        "rpm": [{"kind": "rpm", "limit": 30, "window_seconds": 3600}],
        "tpm": [{"kind": "tpm", "limit": 20_000, "window_seconds": 3600}],
        "steps": [{"kind": "max_steps", "limit": 5}],
        "budget": [{"kind": "budget", "limit": "0.05", "currency": "USD", "period": "total"}],
        "budget2": [
            {
                "kind": "budget",
                "scope": {"key_id": "*"},
                "limit": "0.05",
                "currency": "USD",
                "period": "total",
            }
        ],
    }
}


def replica_app() -> Any:
    """The ASGI app of one replica (built by ``uvicorn --factory`` in a child process)."""
    from aifinops.gateway.app import create_gateway
    from aifinops.gateway.enforcer import Enforcer
    from aifinops.gateway.policies import parse_policies
    from aifinops.gateway.recorder import Recorder
    from aifinops.gateway.redis_counters import RedisCounters
    from tests.gateway.conftest import FakeAzureOpenAI, ListSink, MemoryKeys, gateway_config, gateway_key

    keys = MemoryKeys(
        {f"afo_{name}_secret": gateway_key(key_id=name, policy=name) for name in POLICIES["policies"]}
    )
    counters = RedisCounters.from_url(
        os.environ["AIFINOPS_TEST_REDIS_URL"], prefix=os.environ["REPLICA_PREFIX"]
    )
    enforcer = Enforcer(parse_policies(POLICIES), counters=counters, prices=_prices)
    spool = Path(os.environ["REPLICA_SPOOL_DIR"]) / f"spool-{os.getpid()}.jsonl"
    upstream = httpx.AsyncClient(transport=httpx.ASGITransport(app=FakeAzureOpenAI()))
    recorder = Recorder(ListSink(), spool_path=spool)
    return create_gateway(gateway_config(), keys=keys, enforcer=enforcer, recorder=recorder, http=upstream)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def replicas() -> Iterator[list[str]]:
    prefix = f"aifinops:test:{uuid.uuid4().hex}:"
    spool_dir = tempfile.mkdtemp(prefix="aifinops-replicas-")
    env = {
        **os.environ,
        "AIFINOPS_TEST_REDIS_URL": REDIS_URL,
        "REPLICA_PREFIX": prefix,
        "REPLICA_SPOOL_DIR": spool_dir,
        "PYTHONPATH": str(ROOT),
    }
    ports = [_free_port(), _free_port()]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "tests.gateway.test_two_replicas:replica_app",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        for port in ports
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        _wait_ready(urls)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)
        shutil.rmtree(spool_dir, ignore_errors=True)
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()


def _wait_ready(urls: list[str]) -> None:
    deadline = time.monotonic() + 30
    for url in urls:
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"replica {url} did not start within 30 s")
            time.sleep(0.1)


async def fire(urls: list[str], n: int, policy: str, **request: Any) -> list[httpx.Response]:
    """``n`` chat calls with the key of ``policy``, alternating replicas, IN_FLIGHT at a time."""
    gate = asyncio.Semaphore(IN_FLIGHT)
    headers = {"api-key": f"afo_{policy}_secret", **request.pop("headers", {})}
    body = {"messages": LONG_PROMPT, "max_tokens": 300, **request}
    async with httpx.AsyncClient(timeout=30) as client:

        async def one(i: int) -> httpx.Response:
            async with gate:
                return await client.post(urls[i % 2] + CHAT, json=body, headers=headers)

        return await asyncio.gather(*(one(i) for i in range(n)))


def admitted(responses: list[httpx.Response]) -> list[httpx.Response]:
    assert {r.status_code for r in responses} <= {200, 403, 429}, [
        r.text for r in responses if r.status_code >= 500
    ]
    return [r for r in responses if r.status_code == 200]


def test_rpm_holds_across_replicas(replicas: list[str]) -> None:
    responses = asyncio.run(fire(replicas, 80, "rpm"))
    ok = admitted(responses)
    assert len(ok) == 30
    assert {r.url.port for r in ok} == {int(u.rsplit(":", 1)[1]) for u in replicas}  # both replicas served
    refused = [r for r in responses if r.status_code != 200]
    assert {r.status_code for r in refused} == {429} and refused[0].json()["error"]["code"] == "rpm"
    assert "retry-after" in refused[0].headers


def test_tpm_holds_across_replicas(replicas: list[str]) -> None:
    responses = asyncio.run(fire(replicas, 40, "tpm"))
    used = sum(r.json()["usage"]["total_tokens"] for r in admitted(responses))
    print(f"tpm 20000: {len(admitted(responses))} calls admitted, {used} tokens metered")
    assert used <= 20_000 and any(r.status_code == 429 for r in responses)
    assert len(admitted(responses)) == 20_000 // 1504  # each call reserved 1204 + 300 and used 1500


def test_steps_hold_across_replicas(replicas: list[str]) -> None:
    responses = asyncio.run(fire(replicas, 20, "steps", headers={"x-aifinops-task-id": "task-1"}))
    assert len(admitted(responses)) == 5
    assert {r.json()["error"]["code"] for r in responses if r.status_code != 200} == {"max_steps"}


def test_money_budget_holds_across_replicas(replicas: list[str]) -> None:
    responses = asyncio.run(fire(replicas, 40, "budget"))
    spent = len(admitted(responses)) * METERED_COST  # settled from the metered tokens at the reserved price
    assert spent <= Decimal("0.05") and any(r.status_code == 403 for r in responses)
    assert {r.json()["error"]["code"] for r in responses if r.status_code != 200} == {"budget"}


def test_money_overshoot_is_bounded_by_in_flight_underestimates(replicas: list[str]) -> None:
    # A 7-token estimate reserves 7 × 2.50/1M + 300 × 10/1M = 0.0030175 USD; the call costs 0.006.
    excess = METERED_COST - Decimal("0.0030175")
    responses = asyncio.run(fire(replicas, 40, "budget2", messages=SHORT_PROMPT))
    spent = len(admitted(responses)) * METERED_COST
    bound = Decimal("0.05") + IN_FLIGHT * excess
    print(f"budget 0.05 USD, calls underestimated: spent {spent} USD, bound {bound} USD")
    assert any(r.status_code == 403 for r in responses)
    assert spent <= bound
