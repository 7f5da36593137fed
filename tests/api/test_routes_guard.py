"""Guard API: the limit engine answers allow / deny / downgrade over HTTP and settles by reservation id."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import time
from collections.abc import AsyncIterator, Mapping
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from aifinops.api.access import Access
from aifinops.api.problems import install_problem_handlers
from aifinops.api.routes_guard import router
from aifinops.domain import MeterKind, Price
from aifinops.engine.limit_policies import TokenPrices
from aifinops.engine.pricing import PriceBook
from aifinops.errors import StoreError
from aifinops.gateway.counters import AcquireResult, InProcessCounters, Reservation, Settlement
from aifinops.gateway.enforcer import BookPrices, CallContext, DeploymentModel, Enforcer
from aifinops.gateway.policies import parse_policies
from aifinops.store.keys import ApiKey

NOW = dt.datetime(2026, 11, 26, 12, 0, 30, tzinfo=dt.UTC)
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
PRICES = {
    "gpt-4o": TokenPrices(
        Price("gpt-4o", MeterKind.INPUT, Decimal("2.50"), "USD", T0),
        Price("gpt-4o", MeterKind.OUTPUT, Decimal("10"), "USD", T0),
    ),
    "gpt-4o-mini": TokenPrices(
        Price("gpt-4o-mini", MeterKind.INPUT, Decimal("0.15"), "USD", T0),
        Price("gpt-4o-mini", MeterKind.OUTPUT, Decimal("0.60"), "USD", T0),
    ),
}


def _prices(deployment: str, **_tiers: object) -> TokenPrices | None:
    """The lookup the enforcer asks: these prices whatever the call's tiers."""
    return PRICES.get(deployment)


POLICIES = {
    "global": [{"kind": "deployment_allowlist", "name": "models", "deployments": ["gpt-4o", "gpt-4o-mini"]}],
    "policies": {
        "apim": [
            {"kind": "max_tokens", "name": "cap", "limit": 800},
            {"kind": "rpm", "name": "rpm", "scope": {"key_id": "*"}, "limit": 3},
            {"kind": "max_steps", "name": "steps", "limit": 2},
            {
                "kind": "budget",
                "name": "spend",
                "scope": {"app": "*"},
                "limit": "0.02",
                "currency": "USD",
                "period": "day",
                "downgrade_to": "gpt-4o-mini",
            },
        ]
    },
}
SECRETS = {
    "afo_g1_secret": ApiKey(
        "g1",
        "apim",
        frozenset({"gateway"}),
        identity={"app": "portal", "team": "web"},
        policy="apim",
        allowed_headers=frozenset({"task-id", "step", "attempt", "use-case"}),
    ),
    "afo_g2_secret": ApiKey("g2", "narrow", frozenset({"gateway"}), policy="apim"),
    "afo_r1_secret": ApiKey("r1", "reader", frozenset({"read"})),
}


class DownCounters(InProcessCounters):
    """A counter store whose backend is unreachable."""

    async def acquire(self, reservation: Reservation, *, now: float) -> AcquireResult:
        raise StoreError("limit counters in Redis failed (ConnectionError); check AIFINOPS_REDIS_URL")


def make_app(enforcer: Enforcer) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    app.state.enforcer = enforcer
    app.state.verify_key = SECRETS.get
    app.state.access = Access(created=lambda: True, active=lambda: True, loopback=False)
    return app


@contextlib.asynccontextmanager
async def connected(enforcer: Enforcer) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the guard API in front of ``enforcer``, calling with the gateway key ``g1``."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=make_app(enforcer)),
        base_url="http://aifinops",
        headers={"authorization": "Bearer afo_g1_secret"},
    ) as c:
        yield c


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with connected(Enforcer(parse_policies(POLICIES), prices=_prices, clock=lambda: NOW)) as c:
        yield c


async def guard(client: httpx.AsyncClient, **body: Any) -> Mapping[str, Any]:
    response = await client.post(
        "/api/guard", json={"deployment": "gpt-4o", "estimated_input_tokens": 100, **body}
    )
    assert response.status_code == 200, response.text
    result: Mapping[str, Any] = response.json()
    return result


async def test_allow_clamps_max_tokens_and_returns_a_reservation(client: httpx.AsyncClient) -> None:
    verdict = await guard(client, max_tokens=4000)
    assert verdict["decision"] == "allow" and verdict["status"] == 200 and verdict["max_tokens"] == 800
    assert verdict["reservation_id"]


async def test_deny_carries_the_openai_error_naming_limit_scope_current_and_limit(
    client: httpx.AsyncClient,
) -> None:
    verdict = await guard(client, deployment="gpt-35-turbo")
    assert verdict["decision"] == "deny" and verdict["status"] == 403
    error = verdict["error"]["error"]
    assert (
        error["type"] == "aifinops_limit"
        and error["code"] == "deployment_allowlist"
        and error["param"] is None
    )
    assert (
        "'models'" in error["message"]
        and "gpt-35-turbo" in error["message"]
        and "gpt-4o-mini" in error["message"]
    )


async def test_rpm_is_per_subject_and_refuses_with_retry_after(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        assert (await guard(client, subject="sub-a", max_tokens=10))["decision"] == "allow"
    refused = await guard(client, subject="sub-a", max_tokens=10)
    assert refused["status"] == 429 and refused["headers"]["retry-after"] == "30"
    assert "key_id=g1/sub-a" in refused["error"]["error"]["message"]
    assert (await guard(client, subject="sub-b", max_tokens=10))["decision"] == "allow"


async def test_steps_per_task_are_counted(client: httpx.AsyncClient) -> None:
    for subject in ("a", "b"):
        assert (await guard(client, subject=subject, task_id="T", max_tokens=10))["decision"] == "allow"
    third = await guard(client, subject="c", task_id="T", max_tokens=10)
    assert third["status"] == 403 and third["error"]["error"]["code"] == "max_steps"


async def test_budget_downgrades_then_settles_by_id(client: httpx.AsyncClient) -> None:
    first = await guard(client, subject="s1", max_tokens=800)  # worst case 0.00825 USD on gpt-4o
    assert first["decision"] == "allow"
    settled = await client.post(
        "/api/guard/settle",
        json={"reservation_id": first["reservation_id"], "input_tokens": 100, "output_tokens": 1500},
    )
    assert settled.json() == {"settled": True}  # priced from tokens: 0.01525 USD committed
    again = await client.post(
        "/api/guard/settle",
        json={"reservation_id": first["reservation_id"], "input_tokens": 100, "output_tokens": 1500},
    )
    assert again.json() == {"settled": False}
    second = await guard(client, subject="s2", max_tokens=800)
    assert second["decision"] == "downgrade" and second["deployment"] == "gpt-4o-mini"
    assert second["headers"]["x-aifinops-downgraded-from"] == "gpt-4o"


async def test_release_frees_the_reservation(client: httpx.AsyncClient) -> None:
    first = await guard(client, subject="s1", max_tokens=800)
    second = await guard(client, subject="s2", max_tokens=800)
    assert second["decision"] == "allow"  # 0.0165 of 0.02 reserved
    third = await guard(client, subject="s3", max_tokens=800)
    assert third["decision"] == "downgrade"
    body = {"reservation_id": first["reservation_id"], "failed_before_usage": True}
    assert (await client.post("/api/guard/settle", json=body)).json() == {"settled": True}
    assert (await guard(client, subject="s4", max_tokens=800))["decision"] == "allow"


async def test_field_the_key_may_not_set_is_a_403_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/guard",
        json={"deployment": "gpt-4o", "tenant": "acme"},
        headers={"authorization": "Bearer afo_g2_secret"},
    )
    assert response.status_code == 403 and "tenant" in response.json()["detail"]


async def test_guard_needs_the_gateway_scope(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/guard", json={"deployment": "gpt-4o"}, headers={"authorization": "Bearer afo_r1_secret"}
    )
    assert response.status_code == 403


async def test_store_outage_fails_closed_for_money_and_open_for_rates() -> None:
    money = Enforcer(parse_policies(POLICIES), counters=DownCounters(), prices=_prices, clock=lambda: NOW)
    async with connected(money) as c:
        verdict = await guard(c, max_tokens=10)
    assert verdict["status"] == 503 and verdict["error"]["error"]["code"] == "limit_store_unavailable"
    assert "spend" in verdict["error"]["error"]["message"]
    rates = {"policies": {"apim": [{"kind": "rpm", "limit": 1}]}}
    enforcer = Enforcer(parse_policies(rates), counters=DownCounters(), clock=lambda: NOW)
    async with connected(enforcer) as c:
        verdict = await guard(c, max_tokens=10)
    assert verdict["decision"] == "allow" and verdict["headers"] == {"x-aifinops-limits": "degraded"}


async def test_unknown_policy_on_a_key_is_refused() -> None:
    enforcer = Enforcer(parse_policies({"policies": {}}), clock=lambda: NOW)
    async with connected(enforcer) as c:
        verdict = await guard(c)
    assert verdict["status"] == 403 and verdict["error"]["error"]["code"] == "unknown_policy"


async def test_metered_cost_settles_exactly() -> None:
    counters = InProcessCounters()
    enforcer = Enforcer(parse_policies(POLICIES), counters=counters, prices=_prices, clock=lambda: NOW)
    async with connected(enforcer) as c:
        first = await guard(c, max_tokens=800)
        body = {"reservation_id": first["reservation_id"], "cost": "0.019", "currency": "USD"}
        assert (await c.post("/api/guard/settle", json=body)).json() == {"settled": True}
        after = await guard(c, max_tokens=800)
    assert after["decision"] == "downgrade"  # 0.019 committed + 0.00825 > 0.02; mini's 0.000495 fits
    assert not await counters.settle("unknown", Settlement(tokens=0, cost_nanos=0), now=0)


def test_book_prices_reads_the_price_book_in_effect() -> None:
    book = PriceBook([PRICES["gpt-4o"].input, PRICES["gpt-4o"].output])
    lookup = BookPrices(lambda: book, {"chat": DeploymentModel("gpt-4o")}, currency="USD", clock=lambda: NOW)
    found = lookup("chat")
    assert found is not None and found.input.price == Decimal("2.50") and found.output.price == Decimal("10")
    assert lookup("unknown") is None
    euro = BookPrices(lambda: book, {"chat": DeploymentModel("gpt-4o")}, currency="EUR", clock=lambda: NOW)
    assert euro("chat") is None
    assert BookPrices(lambda: None, {"chat": DeploymentModel("gpt-4o")})("chat") is None


def test_book_prices_reach_versioned_meters_through_the_alias_table_and_the_version_in_effect() -> None:
    versioned = [
        dataclasses.replace(PRICES["gpt-4o"].input, model_version="2024-11-20"),
        dataclasses.replace(PRICES["gpt-4o"].output, model_version="2024-11-20"),
    ]
    book = PriceBook(versioned)
    deployments = {"chat": DeploymentModel("GPT-4o"), "dated": DeploymentModel("gpt-4o-2024-11-20")}
    lookup = BookPrices(lambda: book, deployments, currency="USD", clock=lambda: NOW)
    for name in deployments:
        found = lookup(name)
        assert found is not None and found.input.model_version == "2024-11-20"


def test_no_policy_admission_is_cheap() -> None:
    enforcer = Enforcer()
    ctx = CallContext(
        key=SECRETS["afo_g1_secret"],
        dims={"app": "a"},
        task_id=None,
        step=None,
        attempt=1,
        deployment="gpt-4o",
        route="chat",
        requested_max_tokens=None,
        estimated_input_tokens=10,
        stream=False,
    )

    async def run() -> float:
        started = time.perf_counter()
        for _ in range(20_000):
            admission = await enforcer.admit(ctx)
            await enforcer.settle(admission, ctx, input_tokens=1, output_tokens=1, cost=None, currency=None)
        return (time.perf_counter() - started) / 20_000

    per_call = asyncio.run(run())
    print(f"no-policy admit+settle: {per_call * 1e6:.2f} µs")
    assert enforcer.settle_errors == 0


class ContendedCounters(InProcessCounters):
    """A store where every reservation loses a race: the engine always sees room, the store never has it."""

    async def acquire(self, reservation: Reservation, *, now: float) -> AcquireResult:
        return AcquireResult(False, {c.key: 0 for c in reservation.charges}, reservation.charges[0])


async def test_endless_contention_is_a_429_after_a_bounded_number_of_attempts() -> None:
    enforcer = Enforcer(
        parse_policies(POLICIES), counters=ContendedCounters(), prices=_prices, clock=lambda: NOW
    )
    async with connected(enforcer) as c:
        verdict = await guard(c, max_tokens=10)
    assert verdict["status"] == 429 and verdict["error"]["error"]["code"] == "contention"
    assert verdict["headers"] == {"retry-after": "1"}
