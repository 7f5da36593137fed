"""Usage drivers read for allocation: filters pushed down to SQL, and the part computed in the background.

Every path must give exactly the allocation the pure engine gives from plain drivers it filters itself.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from aifinops.domain import Basis, CostRecord, EventKind
from aifinops.engine.allocation import (
    DRIVER_FIELDS,
    AllocationRule,
    Method,
    RecordMatch,
    Scope,
    UsageFilter,
    allocate,
)
from aifinops.engine.drivers.estimated_cost import ESTIMATED_COST
from aifinops.engine.drivers.registry import USAGE_SUMS
from aifinops.engine.drivers.requests import REQUESTS
from aifinops.engine.drivers.tokens import TOKENS
from aifinops.errors import StoreError
from aifinops.jobs.allocate import allocate_period
from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store
from aifinops.store.allocation_queries import deployment_resources
from aifinops.store.allocations import AllocationStore
from aifinops.store.driver_queries import _WORKER, DriverRead
from aifinops.store.prices import PriceStore
from tests.factories import PRICE_START, event, gpt4o_prices

START = dt.date(2026, 10, 1)
DAYS = 6
END = START + dt.timedelta(days=DAYS)
NOW = dt.datetime(2026, 10, 20, tzinfo=dt.UTC)
AOAI = "/subscriptions/s/resourcegroups/rg/providers/microsoft.cognitiveservices/accounts/"
SEARCH = "/subscriptions/s/resourcegroups/rg/providers/microsoft.search/searchservices/search"
DIMS = ("app", "tenant")
RULES = [
    AllocationRule(
        "retrieval-of-contoso",
        Method.SHARED,
        match=RecordMatch(resource_types=("microsoft.search/searchservices",)),
        driver=REQUESTS,
        usage=UsageFilter(where={"kind": ("retrieval",), "tenant": ("contoso",)}, scope=Scope.ALL),
    ),
    AllocationRule(
        "search",
        Method.SHARED,
        match=RecordMatch(resource_types=("microsoft.search/searchservices",)),
        driver=REQUESTS,
        usage=UsageFilter(where={"kind": ("retrieval", "embedding")}, scope=Scope.ALL),
    ),
    AllocationRule(
        "one-account",
        Method.SHARED,
        match=RecordMatch(resource_ids=("*/accounts/a1",)),
        driver=TOKENS,
        usage=UsageFilter(where={"resource_id": (AOAI + "a1",)}, scope=Scope.ALL),
    ),
    AllocationRule(
        "aoai",
        Method.SHARED,
        match=RecordMatch(resource_types=("microsoft.cognitiveservices/accounts",)),
        driver=ESTIMATED_COST,
    ),
]


@pytest.fixture
def usage(store: Store) -> Store:
    """Chat, retrieval and embedding events of three apps and tenants on two accounts over six days."""
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    kinds = (EventKind.CHAT, EventKind.RETRIEVAL, EventKind.EMBEDDING)
    events = [
        event(
            n,
            ts=dt.datetime.combine(START + dt.timedelta(days=n % DAYS), dt.time(n % 24), tzinfo=dt.UTC),
            app=f"app-{n % 3}",
            tenant=("contoso", "fabrikam", "")[n % 5 % 3],
            deployment=f"d{n % 4}",
            resource_id=AOAI + f"a{n % 4 // 2}",
            kind=kinds[n % 7 % 3],
            input_tokens=100 + n,
            cached_input_tokens=0,
            output_tokens=n % 50,
        )
        for n in range(240)
    ]
    Ingestor(store).ingest(events, source="test")
    return store


def _records() -> list[CostRecord]:
    out = []
    for n in range(DAYS):
        day = START + dt.timedelta(days=n)
        for account in ("a0", "a1"):
            out.append(
                CostRecord(
                    day,
                    Basis.ACTUAL,
                    Decimal("3.333333337") + n,
                    "USD",
                    resource_id=AOAI + account,
                    resource_type="microsoft.cognitiveservices/accounts",
                )
            )
        out.append(
            CostRecord(
                day,
                Basis.ACTUAL,
                Decimal("1.000000001"),
                "USD",
                resource_id=SEARCH,
                resource_type="microsoft.search/searchservices",
            )
        )
    return out


@pytest.mark.parametrize("background_rows", [0, 10**9], ids=["split-in-background", "all-in-caller"])
def test_pushed_down_filters_and_the_background_part_allocate_like_the_engine(
    usage: Store, background_rows: int
) -> None:
    """Conditional sums per filter and a day range split across a worker equal engine-side filtering."""
    AllocationStore(usage).refresh_deployments()
    resources = deployment_resources(usage, START, END)
    plain = DriverRead(
        usage, START, END, dimensions=DIMS, fields=DRIVER_FIELDS, resources=resources, background_rows=10**9
    )
    expected = allocate(_records(), RULES, plain.drivers().all, dimensions=DIMS)
    got = allocate_period(
        usage,
        START,
        END,
        basis=Basis.ACTUAL,
        dimensions=DIMS,
        records=_records(),
        rules=RULES,
        clock=lambda: NOW,
        background_rows=background_rows,
    )
    assert got.parts == expected.parts
    assert {part.rule for part in got.parts} == {"retrieval-of-contoso", "one-account", "aoai"}


def test_a_drivers_read_split_across_a_helper_returns_every_day(usage: Store) -> None:
    """The background part (first two thirds of the days) and the caller's part together: each day once."""
    AllocationStore(usage).refresh_deployments()
    resources = deployment_resources(usage, START, END)
    whole = DriverRead(
        usage, START, END, dimensions=DIMS, fields=(), resources=resources, background_rows=10**9
    )
    split = DriverRead(usage, START, END, dimensions=DIMS, fields=(), resources=resources, background_rows=0)
    together, parts = whole.drivers().all, split.drivers().all
    assert sorted(parts) == sorted(together)
    assert {d.day for d in together} == {START + dt.timedelta(days=n) for n in range(DAYS)}
    assert all(d.resource_id.startswith(AOAI) for d in together)


def test_a_failing_read_is_a_store_error_and_leaves_no_worker_behind(tmp_path: Path) -> None:
    """A database that cannot be read: StoreError with the database's own message; the worker is stopped."""
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not an SQLite database" * 100)
    read = DriverRead(
        Store(f"sqlite:///{broken}"), START, END, dimensions=DIMS, fields=(), resources={}, background_rows=0
    )
    helper = read._helper
    assert helper is not None and helper._process is not None
    with pytest.raises(StoreError, match="not a database"):
        read.drivers()
    assert helper._process.returncode is not None


def test_the_worker_reports_a_database_error_on_stderr_with_status_1(tmp_path: Path) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not an SQLite database" * 100)
    request = {"database": str(broken), "setup": [], "query": ["SELECT 1", []]}
    done = subprocess.run(
        [sys.executable, str(_WORKER)], input=json.dumps(request).encode(), capture_output=True, check=False
    )
    assert done.returncode == 1 and b"not a database" in done.stderr and done.stdout == b""


@pytest.mark.parametrize(
    ("worker", "why"),
    [
        (["/nonexistent/python"], "could not start"),
        ([sys.executable, "-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"], "failed: boom"),
        ([sys.executable, "-c", "print('not a pickle')"], "unreadable"),
    ],
    ids=["missing", "crashing", "garbled"],
)
def test_a_worker_that_fails_costs_time_never_the_drivers(
    sqlite_store: Store, worker: list[str], why: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker only uses the second core: whatever happens to it, its days are read here instead."""
    store = sqlite_store
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    Ingestor(store).ingest(
        [
            event(n, ts=dt.datetime.combine(START + dt.timedelta(days=n % DAYS), dt.time(9), tzinfo=dt.UTC))
            for n in range(30)
        ],
        source="test",
    )
    AllocationStore(store).refresh_deployments()
    resources = deployment_resources(store, START, END)
    expected = DriverRead(store, START, END, dimensions=DIMS, fields=(), resources=resources).drivers()
    read = DriverRead(
        store, START, END, dimensions=DIMS, fields=(), resources=resources, background_rows=0, worker=worker
    )
    with caplog.at_level("WARNING", logger="aifinops.store.driver_queries"):
        got = read.drivers()
    assert sorted(got.all) == sorted(expected.all) and len(got.all) == DAYS
    assert why in caplog.text and "reading those drivers here instead" in caplog.text


def test_every_registered_usage_sum_is_read_and_the_unneeded_ones_read_as_zero(usage: Store) -> None:
    """The drivers' SQL follows the registry: each sum adds its rollup fields; sums no rule needs are 0."""
    AllocationStore(usage).refresh_deployments()
    resources = deployment_resources(usage, START, END)
    every = DriverRead(usage, START, END, dimensions=DIMS, fields=(), resources=resources).drivers().all
    only = DriverRead(usage, START, END, dimensions=DIMS, fields=(), resources=resources, sums={"tokens"})
    tokens_only = only.drivers().all
    at = [s.name for s in USAGE_SUMS].index("tokens")
    assert all(len(d.usage) == len(USAGE_SUMS) for d in every)
    assert sum(d.usage[at] for d in every) == sum(100 + n + n % 50 for n in range(240))
    assert sorted((d.day, d.dims, d.usage[at]) for d in every) == sorted(
        (d.day, d.dims, d.usage[at]) for d in tokens_only
    )
    assert {v for d in tokens_only for i, v in enumerate(d.usage) if i != at} == {0}
