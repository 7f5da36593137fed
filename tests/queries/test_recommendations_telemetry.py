"""The telemetry lever on a simulated month: verbose traces found and priced from the bill within ±10 %,
nothing on a clean month, and the recommendation's savings are the what-if of its own scenario."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from aifinops.demo.simulated_telemetry import WORKSPACE, telemetry_month
from aifinops.demo.simulation import Waste
from aifinops.domain import Basis
from aifinops.errors import ValidationError
from aifinops.queries.recommendations import recommendations_document, whatif_document
from aifinops.sources.telemetry_logs import BILLABLE_MB
from aifinops.store import Store
from aifinops.store.cost_records import CostRecordStore
from aifinops.store.metric_samples import MetricSampleStore
from tests.factories import load_simulated_month

START = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def _load(store: Store, waste: Waste) -> Decimal:
    """The month with its workspace's volumes and bill; the cost of the verbose traces."""
    month = telemetry_month(load_simulated_month(store, waste), waste)
    MetricSampleStore(store).replace(
        [WORKSPACE], [BILLABLE_MB], start=START, end=END + dt.timedelta(days=1), samples=month.samples
    )
    CostRecordStore(store).replace_slice(
        "test", "s", Basis.ACTUAL, START.date(), END.date() + dt.timedelta(days=1), month.records
    )
    return Decimal(month.waste_nanos) / 10**9


def _money(amounts: list[dict[str, str]]) -> Decimal:
    return sum((Decimal(a["amount"]) for a in amounts if a["currency"] == "USD"), Decimal(0))


def _telemetry(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in doc["recommendations"] if r["lever"] == "telemetry"]


def test_verbose_traces_are_sampled_and_priced_from_the_bill_within_ten_percent(sqlite_store: Store) -> None:
    truth = _load(sqlite_store, Waste("none", telemetry=27))
    assert truth > 0
    doc = recommendations_document(sqlite_store, start=START, end=END)
    [rec] = _telemetry(doc)
    assert rec["scope"] == {"workspace": WORKSPACE, "table": "AppTraces"}
    assert rec["scenario"][0]["sampling_percent"] == 10
    assert rec["figures"]["basis"] == "actual" and "KB per call" in rec["evidence"][0]
    assert {a["basis"] for a in rec["savings"]} == {"actual"}
    estimate = _money(rec["savings"])
    error = (estimate - truth) / truth
    print(f"telemetry: truth {truth:.2f} estimate {estimate:.2f} error {error:+.1%}")
    assert abs(error) <= Decimal("0.10"), (truth, estimate)
    alone = whatif_document(sqlite_store, start=START, end=END, scenario=rec["scenario"])
    assert alone["savings"] == rec["savings"]
    stacked = whatif_document(sqlite_store, start=START, end=END, scenario=rec["stacked_scenario"])
    assert _money(stacked["savings"]) == _money(doc["all_applied"]["savings"])


def test_a_month_of_ordinary_telemetry_yields_no_recommendation(sqlite_store: Store) -> None:
    _load(sqlite_store, Waste("none"))
    doc = recommendations_document(sqlite_store, start=START, end=END)
    assert doc["recommendations"] == [], [(r["lever"], r["scope"]) for r in doc["recommendations"]]


def test_the_whatif_prices_a_table_plan_and_sampling_on_the_bill(sqlite_store: Store) -> None:
    _load(sqlite_store, Waste("none", telemetry=7))
    scope = {"workspace": WORKSPACE, "table": "AppTraces"}

    def saved(**change: Any) -> Decimal:
        part = {"lever": "telemetry", "scope": scope, **change}
        doc = whatif_document(sqlite_store, start=START, end=END, scenario=[part])
        assert {a["basis"] for a in doc["savings"]} == {"actual"}
        return _money(doc["savings"])

    assert saved(sampling_percent=100) == 0
    traces = saved(sampling_percent=50) * 2
    assert traces > 0
    ratio = 1 - Decimal("0.50") / Decimal("2.30")
    assert saved(plan="basic") == pytest.approx(traces * ratio, abs=Decimal("0.00001"))
    assert saved(retention_days=30) == 0  # nothing billed for retention


@pytest.mark.parametrize(
    ("part", "field"),
    [
        ({"lever": "telemetry", "scope": {}}, "scenario[0]"),
        ({"lever": "telemetry", "scope": {}, "sampling_percent": 101}, "scenario[0].sampling_percent"),
        ({"lever": "telemetry", "scope": {}, "retention_days": 2}, "scenario[0].retention_days"),
        ({"lever": "telemetry", "scope": {}, "plan": "premium"}, "scenario[0].plan"),
        ({"lever": "telemetry", "scope": {"table": 3}, "plan": "basic"}, "scenario[0].scope"),
    ],
)
def test_a_bad_telemetry_part_names_its_field(sqlite_store: Store, part: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        whatif_document(sqlite_store, start=START, end=END, scenario=[part])
    assert err.value.field == field
