"""Counter stores: the same semantics in process and in Redis (atomic, leased, settle-once)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest

from aifinops.engine.limit_charges import Charge, ChargeMode, Measure
from aifinops.errors import StoreError
from aifinops.gateway.counters import Counters, InProcessCounters, Reservation, Settlement
from aifinops.gateway.redis_counters import RedisCounters

REDIS_URL = os.environ.get("AIFINOPS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


async def _redis_counters() -> tuple[RedisCounters, str]:
    prefix = f"aifinops:test:{uuid.uuid4().hex}:"
    return RedisCounters.from_url(REDIS_URL, prefix=prefix), prefix


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def counters(request: pytest.FixtureRequest) -> AsyncIterator[Counters]:
    if request.param == "memory":
        yield InProcessCounters()
        return
    store, prefix = await _redis_counters()
    yield store
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL)
    keys = [k async for k in client.scan_iter(match=prefix + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()
    await store.aclose()


def sliding(key: str, amount: int, limit: int, *, measure: Measure = Measure.NONE, weight: int = 0) -> Charge:
    return Charge(
        f"{key}:2",
        ChargeMode.SLIDING,
        amount,
        limit,
        125,
        "p",
        measure is Measure.TOKENS,
        measure,
        prev_key=f"{key}:1",
        prev_weight_ppm=weight,
    )


def pool(amount: int, limit: int, *, ttl: int = 3600) -> Charge:
    return Charge("budget", ChargeMode.POOL, amount, limit, ttl, "b", measure=Measure.COST)


def slot(limit: int) -> Charge:
    return Charge("conc", ChargeMode.SLOT, 1, limit, 0, "c")


async def test_acquire_is_all_or_nothing(counters: Counters) -> None:
    ok = await counters.acquire(Reservation("r1", (sliding("rpm", 1, 5), pool(80, 100))), now=1000)
    assert ok.ok and ok.used == {"rpm:2": 0, "budget": 0}
    refused = await counters.acquire(Reservation("r2", (sliding("rpm", 1, 5), pool(30, 100))), now=1000)
    assert not refused.ok and refused.failed is not None and refused.failed.key == "budget"
    assert refused.used == {"rpm:2": 1, "budget": 80}
    assert await counters.read([sliding("rpm", 1, 5)], now=1000) == {"rpm:2": 1}  # r2 charged nothing


async def test_sliding_window_weighs_the_previous_bucket(counters: Counters) -> None:
    for i in range(4):
        assert (
            await counters.acquire(
                Reservation(f"a{i}", (Charge("rpm:1", ChargeMode.SLIDING, 1, 9, 125, "p"),)), now=1000
            )
        ).ok
    assert await counters.read([sliding("rpm", 1, 9, weight=500_000)], now=1000) == {"rpm:2": 2}
    assert await counters.read([sliding("rpm", 1, 9, weight=250_000)], now=1000) == {"rpm:2": 1}


async def test_token_reservation_settles_to_metered_tokens(counters: Counters) -> None:
    charge = sliding("tpm", 1500, 10_000, measure=Measure.TOKENS)
    assert (await counters.acquire(Reservation("r", (charge,)), now=1000)).ok
    assert await counters.settle("r", Settlement(tokens=400, cost_nanos=None), now=1001)
    assert await counters.read([charge], now=1001) == {"tpm:2": 400}


async def test_settle_commits_metered_cost_once(counters: Counters) -> None:
    assert (await counters.acquire(Reservation("r", (pool(500, 1000),)), now=1000)).ok
    assert await counters.settle("r", Settlement(tokens=0, cost_nanos=120), now=1001)
    assert not await counters.settle("r", Settlement(tokens=0, cost_nanos=120), now=1002)
    assert not await counters.release("r", now=1002)
    assert await counters.read([pool(0, 1000)], now=1002) == {"budget": 120}


async def test_unpriced_settle_keeps_the_worst_case(counters: Counters) -> None:
    assert (await counters.acquire(Reservation("r", (pool(500, 1000),)), now=1000)).ok
    assert await counters.settle("r", Settlement(tokens=0, cost_nanos=None), now=1001)
    assert await counters.read([pool(0, 1000)], now=1001) == {"budget": 500}


async def test_release_refunds_tokens_money_and_slots_but_not_requests(counters: Counters) -> None:
    charges = (
        sliding("rpm", 1, 9),
        sliding("tpm", 700, 9000, measure=Measure.TOKENS),
        pool(500, 1000),
        slot(1),
    )
    assert (await counters.acquire(Reservation("r", charges), now=1000)).ok
    assert await counters.release("r", now=1001)
    assert await counters.read(charges, now=1001) == {"rpm:2": 1, "tpm:2": 0, "budget": 0, "conc": 0}


async def test_leases_expire_so_a_dead_replica_leaks_nothing(counters: Counters) -> None:
    assert (
        await counters.acquire(Reservation("r", (pool(900, 1000), slot(1)), lease_seconds=30), now=1000)
    ).ok
    blocked = await counters.acquire(Reservation("s", (pool(900, 1000), slot(1))), now=1010)
    assert not blocked.ok
    later = await counters.acquire(Reservation("s", (pool(900, 1000), slot(1))), now=1031)
    assert later.ok and later.used == {"budget": 0, "conc": 0}


async def test_parallel_acquires_never_exceed_a_limit(counters: Counters) -> None:
    async def one(i: int) -> bool:
        return (await counters.acquire(Reservation(f"r{i}", (pool(10, 95), slot(50))), now=1000)).ok

    results = await asyncio.gather(*(one(i) for i in range(40)))
    assert sum(results) == 9
    assert await counters.read([pool(0, 95)], now=1000) == {"budget": 90}


async def test_count_expires_after_its_ttl(counters: Counters) -> None:
    charge = Charge("steps:task=t", ChargeMode.COUNT, 1, 2, 60, "s", refund_on_release=False)
    assert (await counters.acquire(Reservation("a", (charge,)), now=1000)).ok
    assert (await counters.acquire(Reservation("b", (charge,)), now=1000)).ok
    assert not (await counters.acquire(Reservation("c", (charge,)), now=1000)).ok
    if isinstance(counters, InProcessCounters):  # Redis expires on its own clock; its TTL is checked below
        assert (await counters.acquire(Reservation("c", (charge,)), now=1061)).ok


async def test_peek_returns_the_payload_until_settled(counters: Counters) -> None:
    assert (await counters.acquire(Reservation("r", (pool(1, 9),), payload={"currency": "USD"}), now=1000)).ok
    assert await counters.peek("r") == {"currency": "USD"}
    await counters.release("r", now=1000)
    assert await counters.peek("r") is None


@pytest.mark.redis
async def test_redis_keys_carry_expiry() -> None:
    store, prefix = await _redis_counters()
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        charge = Charge("steps:task=t", ChargeMode.COUNT, 1, 2, 60, "s")
        assert (await store.acquire(Reservation("a", (charge, sliding("rpm", 1, 5))), now=1000)).ok
        assert 0 < await client.ttl(prefix + "steps:task=t") <= 60
        assert 0 < await client.ttl(prefix + "rpm:2") <= 125
        assert await client.pttl(prefix + "res:a") > 0
    finally:
        keys = [k async for k in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
        await store.aclose()


async def test_unreachable_redis_raises_store_error_naming_the_fix() -> None:
    store = RedisCounters.from_url("redis://127.0.0.1:1/0", timeout=0.2)
    with pytest.raises(StoreError, match="AIFINOPS_REDIS_URL"):
        await store.acquire(Reservation("r", (slot(1),)), now=1000)
    await store.aclose()


async def test_rolling_money_settles_and_releases_in_its_bucket(counters: Counters) -> None:
    charge = Charge(
        "budget:rolling:2",
        ChargeMode.SLIDING,
        5_000,
        9_000,
        125,
        "b",
        True,
        Measure.COST,
        prev_key="budget:rolling:1",
    )
    assert (await counters.acquire(Reservation("a", (charge,)), now=1000)).ok
    assert (await counters.acquire(Reservation("b", (charge,)), now=1000)).failed == charge
    assert await counters.settle("a", Settlement(tokens=None, cost_nanos=1_200), now=1001)
    assert (await counters.acquire(Reservation("b", (charge,)), now=1001)).ok
    assert await counters.release("b", now=1002)
    assert await counters.read([charge], now=1002) == {"budget:rolling:2": 1_200}


async def test_unmetered_tokens_keep_the_reservation(counters: Counters) -> None:
    charge = sliding("tpm", 1500, 10_000, measure=Measure.TOKENS)
    assert (await counters.acquire(Reservation("r", (charge,)), now=1000)).ok
    assert await counters.settle("r", Settlement(tokens=None, cost_nanos=None), now=1001)
    assert await counters.read([charge], now=1001) == {"tpm:2": 1500}


async def test_an_expired_task_pool_starts_from_zero() -> None:
    counters = InProcessCounters()
    charge = Charge("taskcost:USD:task=t", ChargeMode.POOL, 600, 1000, 60, "c", measure=Measure.COST)
    assert (await counters.acquire(Reservation("a", (charge,)), now=1000)).ok
    assert await counters.settle("a", Settlement(tokens=0, cost_nanos=600), now=1001)
    assert not (await counters.acquire(Reservation("b", (charge,)), now=1030)).ok
    assert (await counters.acquire(Reservation("b", (charge,)), now=1062)).used == {charge.key: 0}
