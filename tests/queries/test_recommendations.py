"""Back-tests: waste of a known size injected by the simulator is found by its lever, priced within ±10 %."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from aifinops.demo.simulation import Waste, aoai_account
from aifinops.domain import Basis, CostRecord, DeploymentType, EventKind, UsageEvent
from aifinops.engine.pricing import PriceBook, price_event
from aifinops.jobs.ingest import Ingestor
from aifinops.queries.recommendations import recommendations_document, whatif_document
from aifinops.store import Store
from aifinops.store.cost_records import CostRecordStore
from tests.factories import load_simulated_month

START = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def _cost(event: UsageEvent, book: PriceBook) -> Decimal:
    return price_event(event, book).cost or Decimal(0)


def _truth(events: list[UsageEvent], lever: str, book: PriceBook) -> Decimal:
    """The cost of the waste the simulator tagged for ``lever``."""
    total = Decimal(0)
    for e in events:
        if e.attributes.get("waste") == lever:
            total += _cost(e, book)
        elif lever == "context" and "waste_context" in e.attributes:
            less = e.input_tokens - int(e.attributes["waste_context"])
            total += _cost(e, book) - _cost(dataclasses.replace(e, input_tokens=less), book)
        elif lever == "caching" and "waste_prefix" in e.attributes:
            prefix = int(e.attributes["waste_prefix"])
            cached = dataclasses.replace(e, cached_input_tokens=e.cached_input_tokens + prefix)
            total += _cost(e, book) - _cost(cached, book)
        elif lever == "routing" and "waste_model" in e.attributes:
            own = dataclasses.replace(e, model="gpt-4o-mini", model_version=e.attributes["waste_model"])
            total += _cost(e, book) - _cost(own, book)
        elif lever == "batch" and "waste_batch" in e.attributes:
            batch = dataclasses.replace(e, deployment_type=DeploymentType(e.attributes["waste_batch"]))
            total += _cost(e, book) - _cost(batch, book)
        elif lever == "retrieval" and "waste_retrieval" in e.attributes and e.kind is EventKind.CHAT:
            less = e.input_tokens - int(e.attributes["waste_retrieval"])
            total += _cost(e, book) - _cost(dataclasses.replace(e, input_tokens=less), book)
        elif lever == "output" and "waste_output" in e.attributes:
            less = e.output_tokens - int(e.attributes["waste_output"])
            total += _cost(e, book) - _cost(dataclasses.replace(e, output_tokens=less), book)
    return total


def _load(store: Store, waste: Waste) -> list[UsageEvent]:
    return load_simulated_month(store, waste)


def _book(store: Store) -> PriceBook:
    return Ingestor(store).book()


def _money(amounts: list[dict[str, str]]) -> Decimal:
    return sum((Decimal(a["amount"]) for a in amounts if a["currency"] == "USD"), Decimal(0))


def _found(doc: dict[str, Any], lever: str, use_case: str) -> list[dict[str, Any]]:
    return [
        r for r in doc["recommendations"] if r["lever"] == lever and r["scope"].get("use_case") == use_case
    ]


BACK_TESTS = [
    ("requests", Waste("reply-draft", duplicates=0.15)),
    ("loops", Waste("lead-research", loops=0.1)),
    ("retries", Waste("doc-qa", retries=0.3)),
    ("context", Waste("case-summary", context=0.2)),
    ("output", Waste("reply-draft", output=0.2)),
    ("routing", Waste("case-summary", overpowered=0.5)),
    ("caching", Waste("reply-draft", prefix=40_000)),
    ("retrieval", Waste("lead-research", retrieval=0.2)),
    ("batch", Waste("invoice-extraction", interactive=True)),
]


@pytest.mark.parametrize(("lever", "waste"), BACK_TESTS, ids=[b[0] for b in BACK_TESTS])
def test_injected_waste_is_found_and_priced_within_ten_percent(
    sqlite_store: Store, lever: str, waste: Waste
) -> None:
    events = _load(sqlite_store, waste)
    truth = _truth(events, lever, _book(sqlite_store))
    assert truth > 0
    doc = recommendations_document(sqlite_store, start=START, end=END)
    found = _found(doc, lever, waste.use_case)
    assert found, [(r["lever"], r["scope"]) for r in doc["recommendations"]]
    estimate = sum((_money(r["savings"]) for r in found), Decimal(0))
    error = (estimate - truth) / truth
    print(f"{lever}: truth {truth:.2f} estimate {estimate:.2f} error {error:+.1%}")
    assert abs(error) <= Decimal("0.10"), (truth, estimate)


def test_a_clean_month_yields_no_recommendation(sqlite_store: Store) -> None:
    _load(sqlite_store, Waste("none"))
    doc = recommendations_document(sqlite_store, start=START, end=END)
    assert doc["recommendations"] == [], [
        (r["lever"], r["scope"], r["savings"]) for r in doc["recommendations"]
    ]


def test_a_recommendation_saves_exactly_what_its_scenario_saves_in_the_whatif(sqlite_store: Store) -> None:
    _load(sqlite_store, Waste("doc-qa", loops=0.1, retries=0.2, context=0.2, output=0.2, duplicates=0.1))
    doc = recommendations_document(sqlite_store, start=START, end=END)
    recs = doc["recommendations"]
    assert {r["lever"] for r in recs} >= {"requests", "loops", "retries", "context", "output"}
    previous = Decimal(0)
    for rec in recs:
        alone = whatif_document(sqlite_store, start=START, end=END, scenario=rec["scenario"])
        assert alone["savings"] == rec["savings"]
        stacked = whatif_document(sqlite_store, start=START, end=END, scenario=rec["stacked_scenario"])
        assert _money(stacked["savings"]) - previous == _money(rec["stacked_savings"])
        previous = _money(stacked["savings"])
    assert _money(doc["all_applied"]["savings"]) == previous
    # the month was never allocated: the estimated basis only, and the what-if says why
    assert all(r["bases"] == ["estimated"] for r in recs) and doc["all_applied"]["bases"] == ["estimated"]
    assert any("no allocation of the bill covers" in a for a in doc["all_applied"]["assumptions"])


def _ptu_bill(store: Store, units: int, *, reserved: int = 0, rate: Decimal = Decimal(0)) -> None:
    """October's PTU hours of the provisioned account as Cost Management bills them: the unreserved units
    hourly at 1.00 per PTU; ``reserved`` units at 0 in actual cost and at ``rate`` per unit-hour in amortized
    cost (the reservation's purchase spread over its hours)."""
    resource = aoai_account("swedencentral", provisioned=True)

    def row(day: int, basis: Basis, n: int, price: Decimal, model: str | None) -> CostRecord:
        return CostRecord(
            dt.date(2026, 10, 1) + dt.timedelta(days=day),
            basis,
            Decimal(n * 24) * price,
            "USD",
            resource_id=resource,
            meter_name="Provisioned Managed Global Unit",
            quantity=Decimal(n * 24),
            unit="1/Hour",
            pricing_model=model,
        )

    for basis in (Basis.ACTUAL, Basis.AMORTIZED):
        records = [row(i, basis, units - reserved, Decimal(1), None) for i in range(31)]
        if reserved:
            paid = rate if basis is Basis.AMORTIZED else Decimal(0)
            records += [row(i, basis, reserved, paid, "Reservation") for i in range(31)]
        CostRecordStore(store).replace_slice(
            "test", "s", basis, dt.date(2026, 10, 1), dt.date(2026, 11, 1), records
        )


def test_an_oversized_ptu_is_found_with_its_utilisation_and_priced_against_pay_as_you_go(
    sqlite_store: Store,
) -> None:
    events = _load(sqlite_store, Waste("none"))
    _ptu_bill(sqlite_store, units=15)
    book = _book(sqlite_store)
    on_ptu = [e for e in events if e.deployment == "gpt-4.1-ptu" and e.input_tokens]
    payg = sum(
        (_cost(dataclasses.replace(e, deployment_type=DeploymentType.GLOBAL_STANDARD), book) for e in on_ptu),
        Decimal(0),
    )
    truth = Decimal(15 * 24 * 31) - payg  # the PTU hours, less what its tokens cost pay-as-you-go
    doc = recommendations_document(sqlite_store, start=START, end=END)
    (rec,) = [r for r in doc["recommendations"] if r["lever"] == "provisioning"]
    assert rec["scope"] == {"deployment": "gpt-4.1-ptu"} and rec["policy"] == {"ptu_units": 0}
    figures = rec["figures"]
    assert figures["units"] == 15 and 0 < figures["utilisation"] < 0.2  # the sizing table's 3,000 TPM per PTU
    assert figures["break_even_utilisation"] > 1  # at the hourly price a PTU never pays for itself
    estimate = _money(rec["savings"])
    print(f"provisioning: truth {truth:.2f} estimate {estimate:.2f} error {(estimate - truth) / truth:+.1%}")
    assert abs(estimate - truth) / truth <= Decimal("0.10")
    assert [p["units"] for p in figures["curve"]][:2] == [0, 15]


def test_a_reserved_ptu_is_priced_at_its_reservation_rate_and_saves_only_at_renewal(
    sqlite_store: Store,
) -> None:
    """10 of the 15 PTU under a 1-month reservation (260 per PTU over October's 744 hours): reducing them
    saves the reservation rate, not the hourly price, and only once the reservation is renewed or
    exchanged."""
    events = _load(sqlite_store, Waste("none"))
    rate = (Decimal(260) / 744).quantize(Decimal("1e-9"))
    _ptu_bill(sqlite_store, units=15, reserved=10, rate=rate)
    book = _book(sqlite_store)
    on_ptu = [e for e in events if e.deployment == "gpt-4.1-ptu" and e.input_tokens]
    payg = sum(
        (_cost(dataclasses.replace(e, deployment_type=DeploymentType.GLOBAL_STANDARD), book) for e in on_ptu),
        Decimal(0),
    )
    truth = 10 * 744 * rate + 5 * 744 - payg
    doc = recommendations_document(sqlite_store, start=START, end=END)
    (rec,) = [r for r in doc["recommendations"] if r["lever"] == "provisioning"]
    estimate = _money(rec["savings"])
    print(f"reserved PTU: truth {truth:.2f} estimate {estimate:.2f} error {(estimate - truth) / truth:+.1%}")
    assert abs(estimate - truth) / truth <= Decimal("0.10")
    assert estimate < 15 * 744 - payg  # the hourly price would overstate it
    figures = rec["figures"]
    assert figures["reserved_units"] == 10 and Decimal(figures["reservation_rate"]["amount"]) == rate
    # a reserved unit breaks even at the reservation rate's share of the hourly price (1.00)
    reserved_even, hourly_even = figures["break_even_utilisation_reserved"], figures["break_even_utilisation"]
    assert reserved_even < 1 < hourly_even and abs(reserved_even / hourly_even - float(rate)) < 1e-6
    assert "renew" in rec["action"] and any("sunk" in a for a in rec["confidence"]["assumptions"])
    alone = whatif_document(sqlite_store, start=START, end=END, scenario=rec["scenario"])
    assert alone["savings"] == rec["savings"] and any("reserv" in a for a in alone["assumptions"])
    # no assumption may say every PTU hour costs the hourly price while reserved units cost their rate
    capacity = [a for a in alone["assumptions"] if a.startswith("provisioned deployments cost their PTU")]
    assert capacity and all("reserved units at the reservation rate" in a for a in capacity)
