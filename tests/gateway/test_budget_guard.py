"""Store budgets with a block or downgrade action act in the gateway's request path while exceeded."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from aifinops.engine.budgets import BudgetStatus, budget_from_dict, evaluate_budget
from aifinops.engine.periods import Period, PeriodKind
from aifinops.gateway.app import create_gateway
from aifinops.gateway.budget_guard import BudgetGuard
from aifinops.gateway.recorder import Recorder

from .conftest import GATEWAY_SECRET, AllowAll, FakeAzureOpenAI, ListSink, gateway_config, memory_keys

AZURE_CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
BODY = {"messages": [{"role": "user", "content": "Say hello"}]}
PERIOD = Period(PeriodKind.MONTH, dt.date(2026, 11, 1), dt.date(2026, 11, 30), "UTC")


def _status(spend: str, **budget: object) -> BudgetStatus:
    b = budget_from_dict(
        {
            "name": "checkout-monthly",
            "amount": "10",
            "currency": "USD",
            "scope": {"app": "checkout"},
            **budget,
        }
    )
    return evaluate_budget(b, period=PERIOD, spend=Decimal(spend), forecast=None)


async def _client(
    upstream: FakeAzureOpenAI, tmp: Path, statuses: list[BudgetStatus]
) -> AsyncIterator[httpx.AsyncClient]:
    guard = BudgetGuard(lambda: statuses, ttl=60)
    await guard.refresh()
    recorder = Recorder(ListSink(), spool_path=tmp / "spool.jsonl", flush_interval=0.01)
    upstream_http = httpx.AsyncClient(transport=httpx.ASGITransport(app=upstream))
    app = create_gateway(
        gateway_config(),
        keys=memory_keys(),
        enforcer=AllowAll(),
        recorder=recorder,
        http=upstream_http,
        budgets=guard,
    )
    await app.startup()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        yield client
    await app.shutdown()
    await upstream_http.aclose()


@pytest.fixture
async def blocked(fake_upstream: FakeAzureOpenAI, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client(fake_upstream, tmp_path, [_status("12.5", action="block")]):
        yield c


async def test_exceeded_block_budget_refuses_in_openai_shape(
    blocked: httpx.AsyncClient, fake_upstream: FakeAzureOpenAI
) -> None:
    r = await blocked.post(AZURE_CHAT, headers={"api-key": GATEWAY_SECRET}, json=BODY)
    assert r.status_code == 403
    error = r.json()["error"]
    assert error["code"] == "budget"
    assert "checkout-monthly" in error["message"] and "app=checkout" in error["message"]
    assert "12.50 USD" in error["message"] and "limit 10 USD" in error["message"]
    assert fake_upstream.requests == []


async def test_exceeded_downgrade_budget_routes_to_the_cheaper_deployment(
    fake_upstream: FakeAzureOpenAI, tmp_path: Path
) -> None:
    status = _status("10", action="downgrade", downgrade_to="gpt-4o-west")
    async for client in _client(fake_upstream, tmp_path, [status]):
        r = await client.post(AZURE_CHAT, headers={"api-key": GATEWAY_SECRET}, json=BODY)
        assert r.status_code == 200
        assert r.headers["x-aifinops-downgraded-from"] == "gpt-4o"
        assert fake_upstream.requests[0]["path"] == "/openai/deployments/gpt-4o-west/chat/completions"


async def test_budget_within_its_amount_or_out_of_scope_lets_calls_through(
    fake_upstream: FakeAzureOpenAI, tmp_path: Path
) -> None:
    statuses = [_status("9.99", action="block"), _status("50", action="block", scope={"app": "other"})]
    async for client in _client(fake_upstream, tmp_path, statuses):
        r = await client.post(AZURE_CHAT, headers={"api-key": GATEWAY_SECRET}, json=BODY)
        assert r.status_code == 200
        assert "x-aifinops-downgraded-from" not in r.headers
