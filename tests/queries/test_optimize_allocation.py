"""The fully loaded bases of recommendations and what-ifs, from the demo month's allocation of the bill."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from aifinops.demo.month import demo_optimize_settings, demo_recommendations
from aifinops.domain import Basis
from aifinops.queries.recommendations import whatif_document
from aifinops.store import Store
from aifinops.store.allocation_queries import bucket_totals

START = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def _by_basis(amounts: list[dict[str, str]]) -> dict[str, Decimal]:
    return {a["basis"]: Decimal(a["amount"]) for a in amounts if a["currency"] == "USD"}


def test_every_saving_is_its_scenarios_whatif_on_every_basis(demo_store: Store) -> None:
    doc, _ = demo_recommendations(demo_store, year=2026, month=10)
    recs: list[dict[str, Any]] = doc["recommendations"]
    assert recs and all(r["bases"] == ["estimated", "actual", "amortized"] for r in recs)
    settings = demo_optimize_settings(demo_store, year=2026, month=10)
    previous: dict[str, Decimal] = {}
    for rec in recs:
        alone = whatif_document(demo_store, start=START, end=END, scenario=rec["scenario"], settings=settings)
        assert alone["savings"] == rec["savings"], rec["title"]
        stacked = whatif_document(
            demo_store, start=START, end=END, scenario=rec["stacked_scenario"], settings=settings
        )
        total = _by_basis(stacked["savings"])
        step = {b: v - previous.get(b, Decimal(0)) for b, v in total.items()}
        # exact in nanos; each JSON amount is rounded to 1e-6, so a difference of two may be 1e-6 off
        assert step.keys() == _by_basis(rec["stacked_savings"]).keys(), rec["title"]
        for basis, amount in _by_basis(rec["stacked_savings"]).items():
            assert abs(step[basis] - amount) <= Decimal("0.000001"), (rec["title"], basis)
        previous = total
    assert _by_basis(doc["all_applied"]["savings"]) == previous


def test_the_whole_estate_fully_loaded_is_the_allocated_bill(demo_store: Store) -> None:
    """Before any change, the estate's fully loaded cost is every bucket of the allocation (allocated, idle,
    purchases, unallocated): the bill of the month, exactly."""
    doc = whatif_document(demo_store, start=START, end=END, scenario=[])
    before = _by_basis(doc["before"])
    for basis in (Basis.ACTUAL, Basis.AMORTIZED):
        billed = sum(
            n for (currency, _), n in bucket_totals(demo_store, START.date(), END.date(), basis=basis).items()
        )
        assert before[basis.value] == (Decimal(billed) / 10**9).quantize(Decimal("0.000001"))
    assert any(a.startswith("fully loaded") for a in doc["assumptions"])


def test_the_reserved_ptu_saves_less_on_the_actual_bill_until_the_reservation_renews(
    demo_store: Store,
) -> None:
    doc, _ = demo_recommendations(demo_store, year=2026, month=10)
    (ptu,) = [r for r in doc["recommendations"] if r["lever"] == "provisioning"]
    assert ptu["figures"]["reserved_units"] == 10 and "renews" in ptu["action"]
    saved = _by_basis(ptu["savings_per_month"])
    # the 10 reserved units (260 USD each for the month) are a purchase already paid on the actual basis
    assert saved["estimated"] == saved["amortized"] == saved["actual"] + 2600
