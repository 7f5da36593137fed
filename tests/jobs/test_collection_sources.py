"""The Cost Management query step: what Azure sent is what the store gives back, to the last digit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from aifinops.domain import Basis, CostRecord
from aifinops.emulator import EmulatorState, SyncASGITransport, create_emulator
from aifinops.jobs.collect import Collector
from aifinops.sources._http import RetryPolicy
from aifinops.sources.cost_management import CostManagementClient
from aifinops.store import Store
from aifinops.store.cost_queries import read_cost_records, read_cost_series, read_cost_totals
from tests.factories import EmulatorToken

SUB = "00000000-0000-0000-0000-0000000000ee"
NOV, DEC = dt.date(2026, 11, 1), dt.date(2026, 12, 1)


@pytest.fixture
def azure() -> Iterator[tuple[EmulatorState, httpx.Client]]:
    state = EmulatorState(today=dt.date(2026, 12, 10))
    transport = SyncASGITransport(create_emulator(state))
    with httpx.Client(transport=transport) as http:
        yield state, http
    transport.close()


def _ten_decimal_month() -> list[Decimal]:
    """30 daily amounts with ten decimals: rounded to 9 decimals they add up to 2,822.197740211."""
    return [Decimal("94.0732580074")] * 29 + [Decimal("94.0732580081")]


def test_query_amounts_keep_every_digit_azure_sent(
    azure: tuple[EmulatorState, httpx.Client], store: Store
) -> None:
    state, http = azure
    days = _ten_decimal_month()
    for i, amount in enumerate(days):
        state.cost_records.append(
            CostRecord(
                billing_day=NOV + dt.timedelta(days=i),
                basis=Basis.ACTUAL,
                cost=amount,
                currency="EUR",
                subscription_id=SUB,
                resource_id=f"/subscriptions/{SUB}/resourcegroups/rg/providers/microsoft.cognitiveservices/accounts/a",
            )
        )
    total = sum(days, Decimal(0))
    assert total == Decimal("2822.1977402227")  # what the service's month adds up to
    client = CostManagementClient(http, EmulatorToken(state), policy=RetryPolicy(max_attempts=1))
    summary = Collector(store, cost_client=client, cost_scopes=[f"subscriptions/{SUB}"]).collect(
        NOV, DEC, sources=["cost_management"]
    )
    assert summary.ok, summary.errors
    (actual,) = [o for o in summary.outcomes if o.basis is Basis.ACTUAL]
    assert actual.totals["EUR"].amount == total
    assert read_cost_totals(store, NOV, DEC, basis=Basis.ACTUAL)["EUR"].amount == total
    series = read_cost_series(store, NOV, DEC, basis=Basis.ACTUAL)
    assert [p.cost.amount for p in series] == days
    assert [r.cost for r in read_cost_records(store, NOV, DEC, basis=Basis.ACTUAL)] == days
