"""An API client over a migrated store, with gpt-4o prices loaded; a month with its bill allocated."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from aifinops.api.app import create_app
from aifinops.config import load_settings
from aifinops.domain import Basis, CostRecord, Outcome, TaskOutcome
from aifinops.engine.allocation_rules import AllocationRule, Method, RecordMatch
from aifinops.engine.drivers.tokens import TOKENS
from aifinops.jobs.allocate import allocate_period
from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store
from aifinops.store.prices import PriceStore
from tests.factories import PRICE_START, event, gpt4o_prices

KPI_AOAI = "/subscriptions/s/resourcegroups/rg/providers/microsoft.cognitiveservices/accounts/aoai"


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    with TestClient(create_app(load_settings(), store=store)) as c:
        yield c


@pytest.fixture
def sqlite_client(sqlite_store: Store) -> Iterator[TestClient]:
    PriceStore(sqlite_store).save(gpt4o_prices(), now=PRICE_START)
    with TestClient(create_app(load_settings(), store=sqlite_store)) as c:
        yield c


@pytest.fixture
def allocated_store(store: Store) -> Store:
    """October 2026 with tasks of two use cases and two tenants, and its bill allocated over use case and
    tenant on both billed bases.

    Four identical priced events (0.00325 USD each, estimated) on one Azure OpenAI account, on 2026-10-02:
    task a1 (uc-a, contoso, 2 events, succeeded), a2 (uc-a, fabrikam, 1 event, failed), b1 (uc-b, contoso,
    1 event, succeeded). The account bills 8 USD actual and 6 USD amortized that day, shared by tokens: a
    quarter per event. A 100 USD record of 2026-09-30 is allocated to uc-a/contoso too (by its tags) but is
    billed before October.
    """
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    ingestor = Ingestor(store)
    at = dt.datetime(2026, 10, 2, 9, tzinfo=dt.UTC)
    calls = (
        ("a1", "uc-a", "contoso"),
        ("a1", "uc-a", "contoso"),
        ("a2", "uc-a", "fabrikam"),
        ("b1", "uc-b", "contoso"),
    )
    ingestor.ingest(
        [
            event(
                i,
                ts=at + dt.timedelta(minutes=i),
                task_id=task,
                use_case=uc,
                tenant=tenant,
                resource_id=KPI_AOAI,
            )
            for i, (task, uc, tenant) in enumerate(calls)
        ],
        source="test",
    )
    ended = at + dt.timedelta(hours=1)
    ingestor.record_outcomes(
        [
            TaskOutcome("a1", Outcome.SUCCEEDED, ended, tenant="contoso"),
            TaskOutcome("a2", Outcome.FAILED, ended, tenant="fabrikam"),
            TaskOutcome("b1", Outcome.SUCCEEDED, ended, tenant="contoso"),
        ]
    )
    rules = [
        AllocationRule(
            "tagged",
            Method.DIRECT,
            match=RecordMatch(tags={"use_case": "*"}),
            owner_tags={"use_case": "use_case", "tenant": "tenant"},
        ),
        AllocationRule(
            "aoai",
            Method.SHARED,
            match=RecordMatch(resource_ids=("*/accounts/aoai",)),
            driver=TOKENS,
        ),
    ]
    owner = {"use_case": "uc-a", "tenant": "contoso"}
    start, end = dt.date(2026, 9, 1), dt.date(2026, 11, 1)
    for basis, amount in ((Basis.ACTUAL, "8"), (Basis.AMORTIZED, "6")):
        records = [
            CostRecord(dt.date(2026, 10, 2), basis, Decimal(amount), "USD", resource_id=KPI_AOAI),
            CostRecord(dt.date(2026, 9, 30), basis, Decimal(100), "USD", resource_id="/vm", tags=owner),
        ]
        allocate_period(
            store, start, end, basis=basis, dimensions=("use_case", "tenant"), records=records, rules=rules
        )
    return store
