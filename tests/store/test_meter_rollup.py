"""The estate, cost driver and reconciliation reads over the daily meter rollup equal the same reads over the
raw events (the oracle in :mod:`tests.store.raw_usage_oracle`): random events over several days with and
without accounts, regions, owners and task steps, priced, unpriced and per unit, retried, re-sent, and
re-priced after a price change; any range of whole days."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aifinops.domain import DeploymentType, EventKind, MeterKind, Price
from aifinops.engine.pricing import price_event
from aifinops.jobs.ingest import Ingestor
from aifinops.queries.cost_drivers import read_meter_usage
from aifinops.queries.estate import estate_document
from aifinops.store import Store, estate_queries, reconciliation_queries
from aifinops.store.meter_queries import meter_rows
from aifinops.store.prices import PriceStore
from aifinops.store.repricing import RepricingStore
from tests.factories import PRICE_START, T0, event, gpt4o_prices
from tests.store import raw_usage_oracle as oracle

_TABLES = ("usage_events", "usage_rollup", "usage_daily", "usage_meter_daily", "task_rollup", "prices")
_ACCOUNT = "/subscriptions/s/resourcegroups/rg/providers/microsoft.cognitiveservices/accounts/"

_event = st.fixed_dictionaries(
    {
        "minute": st.integers(min_value=0, max_value=4 * 1440 - 1),
        "app": st.sampled_from([None, "app-a", "app-b"]),
        "use_case": st.sampled_from([None, "uc-a", "uc-b"]),
        "owner": st.sampled_from([(None, None), ("cc-1", "team-x"), ("cc-2", None)]),
        "model": st.sampled_from(["gpt-4o", "gpt-4o", "unknown-model", None]),
        "deployment": st.sampled_from([None, "d-4o", "d-mini"]),
        "account": st.sampled_from([None, "a1", "a2"]),
        "region": st.sampled_from([None, "eastus", "swedencentral"]),
        "kind": st.sampled_from([EventKind.CHAT, EventKind.TOOL, EventKind.RETRIEVAL]),
        "step": st.one_of(st.none(), st.integers(min_value=0, max_value=3)),
        "attempt": st.integers(min_value=1, max_value=3),
        "tokens": st.integers(min_value=0, max_value=5000),
        "writes": st.sampled_from([0, 0, 3, 7]),  # eighths of the uncached input written to the cache
        "quantity": st.one_of(st.none(), st.sampled_from(["1", "2.5"])),
    }
)
_days = st.tuples(st.integers(min_value=-1, max_value=4), st.integers(min_value=1, max_value=5))


def _wipe(store: Store) -> None:
    with store.session() as conn:
        for table in _TABLES:
            conn.execute(sa.text(f"DELETE FROM {table}"))


def _events(specs: list[dict[str, Any]], offset: int) -> list[Any]:
    out = []
    for i, s in enumerate(specs):
        tokens = int(s["tokens"])
        cost_center, team = s["owner"]
        out.append(
            event(
                offset + i,
                ts=T0 + dt.timedelta(minutes=int(s["minute"])),
                app=s["app"],
                use_case=s["use_case"],
                cost_center=cost_center,
                team=team,
                model=s["model"],
                deployment=s["deployment"],
                deployment_type=None if s["model"] is None else DeploymentType.GLOBAL_STANDARD,
                region=s["region"],
                resource_id=None if s["account"] is None else _ACCOUNT + s["account"],
                kind=s["kind"],
                step=s["step"],
                attempt=s["attempt"],
                input_tokens=tokens,
                cached_input_tokens=tokens // 4,
                cache_write_tokens=(tokens - tokens // 4) * int(s["writes"]) // 8,
                output_tokens=tokens // 10,
                reasoning_tokens=tokens // 20,
                quantity=None if s["quantity"] is None else Decimal(s["quantity"]),
                unit=None if s["quantity"] is None else "call",
            )
        )
    return out


def _norm(rows: list[dict[str, Any]], sums: tuple[str, ...]) -> list[tuple[Any, ...]]:
    """Rows as sorted tuples; a sum over no values (SQL NULL) is 0, as every reader takes it."""
    out = []
    for row in rows:
        keys = tuple((k, v) for k, v in row.items() if k not in sums)
        out.append((*keys, *((s, int(row[s] or 0)) for s in sums)))
    return sorted(out, key=repr)


_ALL_SUMS = ("events", "unpriced_events", *oracle._SUMS)
_ESTIMATE_SUMS = (
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "quantity_nanos",
    "cache_write_tokens",
)


def _same(store: Store, start: dt.date, end: dt.date) -> None:
    assert _norm(estate_queries.usage_paths(store, start, end), _ALL_SUMS) == _norm(
        oracle.usage_paths(store, start, end), _ALL_SUMS
    )
    assert _norm(estate_queries.meter_usage(store, start, end), _ALL_SUMS) == _norm(
        oracle.meter_usage(store, start, end), _ALL_SUMS
    )
    fast = meter_rows(
        store,
        start,
        end,
        ("day", "resource_id", "deployment", *oracle._PRICE_IDS),
        sums=_ESTIMATE_SUMS,
        priced_with_account=True,
    )
    assert _norm(fast, _ESTIMATE_SUMS) == _norm(oracle.estimate_rows(store, start, end), _ESTIMATE_SUMS)


def _cache_write_price(start: dt.datetime, price: str) -> Price:
    return Price(
        model="gpt-4o",
        meter_kind=MeterKind.CACHE_WRITE,
        price=Decimal(price),
        currency="USD",
        effective_start=start,
        deployment_type=DeploymentType.GLOBAL_STANDARD,
        source="test",
    )


def _first_prices() -> list[Price]:
    """gpt-4o per token (cache writes at their own price) and a model-agnostic price per call (events with a
    quantity of calls)."""
    per_call = Price(
        model="call",
        meter_kind=MeterKind.UNIT,
        price=Decimal("0.01"),
        currency="USD",
        effective_start=PRICE_START,
        unit="call",
        unit_size=1,
        source="test",
    )
    return [*gpt4o_prices(), _cache_write_price(PRICE_START, "3.125"), per_call]


def _later_prices() -> list[Price]:
    """gpt-4o at new prices from the third day."""
    return [_cache_write_price(T0 + dt.timedelta(days=2), "2.5")] + [
        Price(
            model="gpt-4o",
            meter_kind=kind,
            price=Decimal(p),
            currency="USD",
            effective_start=T0 + dt.timedelta(days=2),
            deployment_type=DeploymentType.GLOBAL_STANDARD,
            source="test",
        )
        for kind, p in ((MeterKind.INPUT, "2"), (MeterKind.CACHED_INPUT, "1"), (MeterKind.OUTPUT, "8"))
    ]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batches=st.lists(st.lists(_event, min_size=1, max_size=15), min_size=1, max_size=3),
    resend=st.booleans(),
    reprice=st.booleans(),
    ranges=st.lists(_days, min_size=1, max_size=3),
)
def test_meter_rollup_reads_equal_the_raw_event_reads(
    store: Store,
    batches: list[list[dict[str, Any]]],
    resend: bool,
    reprice: bool,
    ranges: list[tuple[int, int]],
) -> None:
    _wipe(store)
    PriceStore(store).save(_first_prices(), now=PRICE_START)
    ingestor = Ingestor(store, refresh_seconds=0)
    sent: list[Any] = []
    for i, specs in enumerate(batches):
        batch = _events(specs, offset=100 * i)
        ingestor.ingest(batch, source="test")
        sent.extend(batch)
    if resend:
        ingestor.ingest(sent, source="test")
    if reprice:
        PriceStore(store).save(_later_prices(), now=T0)
        book = ingestor.book()
        RepricingStore(store).reprice(
            lambda e: price_event(e, book),
            start=T0 + dt.timedelta(days=1),
            end=T0 + dt.timedelta(days=3),
            now=T0 + dt.timedelta(days=5),
        )
    for lo, length in ranges:
        start = T0.date() + dt.timedelta(days=lo)
        _same(store, start, start + dt.timedelta(days=length))


def test_the_estate_and_reconciliation_documents_read_the_meter_rollup(store: Store) -> None:
    """The documents the views show come out of the rollup: no event left to group when it is cleared."""
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    Ingestor(store).ingest(
        [event(i, resource_id=_ACCOUNT + "a1", deployment="d-4o") for i in range(6)], source="test"
    )
    day = T0.date()
    estate = estate_document(store, start=day, end=day + dt.timedelta(days=1))
    assert [(d["deployment"], d["events"]) for d in estate["deployments"]] == [("d-4o", 6)]
    usage = read_meter_usage(store, day, day + dt.timedelta(days=1))
    assert sum(u.events for u in usage) == 6
    estimates = reconciliation_queries.estimates(store, day, day + dt.timedelta(days=1))
    assert {e.resource_id for e in estimates} == {_ACCOUNT + "a1"}
    with store.session() as conn:
        conn.execute(sa.text("DELETE FROM usage_meter_daily"))
    assert estate_document(store, start=day, end=day + dt.timedelta(days=1))["deployments"] == []
    assert reconciliation_queries.estimates(store, day, day + dt.timedelta(days=1)) == []


def test_estimates_are_one_row_per_day_account_deployment_and_meter(store: Store) -> None:
    """Events of one day in different hours are estimated together: one rounding per day and meter (the
    events' read grouped by ``hour / 24`` as a fraction on both databases, so once per hour)."""
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    Ingestor(store).ingest(
        [
            event(i, ts=T0 + dt.timedelta(hours=i), resource_id=_ACCOUNT + "a1", input_tokens=1,
                  output_tokens=0, cached_input_tokens=0)
            for i in range(3)
        ],
        source="test",
    )  # fmt: skip
    (estimate,) = reconciliation_queries.estimates(store, T0.date(), T0.date() + dt.timedelta(days=1))
    assert (estimate.meter_id, estimate.quantity) == ("", Decimal(3))
    assert estimate.cost_nanos == 7_500  # 3 tokens × 2.50 / 1M = 7.5e-6, rounded once


def test_cache_writes_are_estimated_at_their_own_meter_and_out_of_the_input_meter(store: Store) -> None:
    """An event that writes input to the prompt cache is charged the cache-write price for those tokens and
    the input price only for the rest: reconciliation and the cost drivers read both from the rollup."""
    PriceStore(store).save([*gpt4o_prices(), _cache_write_price(PRICE_START, "3.125")], now=PRICE_START)
    Ingestor(store).ingest(
        [event(0, resource_id=_ACCOUNT + "a1", input_tokens=1000, cached_input_tokens=200,
               cache_write_tokens=600, output_tokens=0, reasoning_tokens=0)],
        source="test",
    )  # fmt: skip
    day = T0.date()
    estimates = reconciliation_queries.estimates(store, day, day + dt.timedelta(days=1))
    units = sorted((e.quantity, e.unit_price) for e in estimates)
    assert units == [
        (Decimal(200), Decimal("1.25")),
        (Decimal(200), Decimal("2.5")),
        (Decimal(600), Decimal("3.125")),
    ]
    assert sum(e.cost_nanos for e in estimates) == 2_625_000  # 200×2.5 + 200×1.25 + 600×3.125 per 1M
    (usage,) = read_meter_usage(store, day, day + dt.timedelta(days=1))
    assert usage.cache_write_tokens == 600 and usage.cost_nanos == 2_625_000
    assert set(usage.prices) == {"input", "cached_input", "cache_write"}  # no output, no output price
