"""Showback regroups allocation lines without losing a nano; chargeback refuses too much unallocated cost."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aifinops.domain import Basis, CostRecord, to_nanos
from aifinops.engine.allocation import (
    AllocationRule,
    Bucket,
    Driver,
    Method,
    RecordMatch,
    allocate,
)
from aifinops.engine.drivers.tokens import TOKENS
from aifinops.engine.drivers.usage_index import usage_sums
from aifinops.engine.showback import build_showback, check_chargeback, purchase_note

DAY = dt.date(2026, 10, 3)
DIMS = ("app", "tenant", "use_case")
AOAI = "/subscriptions/s/resourcegroups/rg/providers/microsoft.cognitiveservices/accounts/a"
PTU = "/subscriptions/s/resourcegroups/rg/providers/microsoft.cognitiveservices/accounts/ptu"
RULES = [
    AllocationRule("tagged", Method.DIRECT, match=RecordMatch(tags={"app": "*"}), owner_tags={"app": "app"}),
    AllocationRule("aoai", Method.SHARED, match=RecordMatch(resource_ids=(AOAI,)), driver=TOKENS),
    AllocationRule(
        "ptu",
        Method.PROVISIONED,
        match=RecordMatch(resource_ids=(PTU,)),
        driver=TOKENS,
        capacity_per_day=1000,
    ),
]
DRIVERS = [
    Driver(DAY, ("chat", "t1", "support"), usage_sums(tokens=600), resource_id=AOAI),
    Driver(DAY, ("chat", "t2", "support"), usage_sums(tokens=200), resource_id=AOAI),
    Driver(DAY, ("rag", "t1", "search"), usage_sums(tokens=200), resource_id=AOAI),
    Driver(DAY, ("rag", "t1", "search"), usage_sums(tokens=250), resource_id=PTU),
]


def rec(cost: str, resource_id: str = AOAI, currency: str = "USD", **kw: object) -> CostRecord:
    return CostRecord(DAY, Basis.ACTUAL, Decimal(cost), currency, resource_id=resource_id, **kw)  # type: ignore[arg-type]


_records = st.lists(
    st.builds(
        rec,
        cost=st.decimals(min_value=-500, max_value=500, places=9, allow_nan=False).map(str),
        resource_id=st.sampled_from([AOAI, PTU, "/other"]),
        currency=st.sampled_from(["USD", "EUR"]),
        tags=st.sampled_from([{}, {"app": "crm"}]),
    ),
    max_size=15,
)


@settings(max_examples=100, deadline=None)
@given(records=_records, by=st.sampled_from([("app",), ("tenant", "app"), DIMS, ()]))
def test_showback_totals_equal_the_invoice_per_currency(
    records: list[CostRecord], by: tuple[str, ...]
) -> None:
    showback = build_showback(
        allocate(records, RULES, DRIVERS, dimensions=DIMS), by=by, period="2026-10", basis=Basis.ACTUAL
    )
    for total in showback.totals:
        invoice = sum(to_nanos(r.cost) for r in records if r.currency == total.currency)
        assert total.invoice_nanos == invoice == total.total_nanos
        assert sum(r.amount_nanos for r in showback.rows if r.currency == total.currency) == invoice
    assert {t.currency for t in showback.totals} == {r.currency for r in records}


def test_rows_show_owners_idle_and_unallocated_with_their_drivers() -> None:
    records = [
        rec("10"),
        rec("4", PTU),
        rec("3", "/storage", tags={"App": "crm"}),
        rec("2", "/vm", meter_category="VM"),
    ]
    showback = build_showback(
        allocate(records, RULES, DRIVERS, dimensions=DIMS), by=("app",), period="2026-10", basis=Basis.ACTUAL
    )
    got = [(r.key, r.bucket, r.amount_nanos, r.drivers) for r in showback.rows]
    assert got == [
        (("chat",), Bucket.ALLOCATED, 8 * 10**9, ("aoai: tokens",)),
        (("crm",), Bucket.ALLOCATED, 3 * 10**9, ("tagged: direct:tag app",)),
        (("rag",), Bucket.ALLOCATED, 3 * 10**9, ("aoai: tokens", "ptu: tokens")),
        (("",), Bucket.IDLE, 3 * 10**9, ("ptu: tokens",)),
        (("",), Bucket.UNALLOCATED, 2 * 10**9, ()),
    ]
    assert (
        showback.unallocated[0].resource_id == "/vm" and showback.unallocated[0].reason == "no rule matches"
    )


def test_grouping_by_a_dimension_the_run_did_not_use_is_refused() -> None:
    result = allocate([rec("1")], RULES, DRIVERS, dimensions=DIMS)
    with pytest.raises(ValueError, match=r"cannot group by \['team'\].*re-run allocation"):
        build_showback(result, by=("team",), period="2026-10", basis=Basis.ACTUAL)


def test_chargeback_is_refused_naming_the_largest_unallocated_items() -> None:
    records = [rec("90"), rec("7", "/vm-big"), rec("3", "/vm-small")]
    showback = build_showback(
        allocate(records, RULES, DRIVERS, dimensions=DIMS), by=("app",), period="2026-10", basis=Basis.ACTUAL
    )
    check = check_chargeback(showback, max_unallocated_share=Decimal("0.05"), top=1)
    assert not check.allowed and check.shares == (("USD", Decimal("0.1")),)
    assert "USD 10.00% exceeds the allowed 5.00%" in check.message()
    assert "/vm-big" in check.message() and "/vm-small" not in check.message()
    assert check_chargeback(showback, max_unallocated_share=Decimal("0.10")).allowed


def test_a_credit_cannot_hide_unallocated_charges() -> None:
    records = [rec("100"), rec("50", "/vm"), rec("-50", "/credit")]
    showback = build_showback(
        allocate(records, RULES, DRIVERS, dimensions=DIMS), by=("app",), period="2026-10", basis=Basis.ACTUAL
    )
    assert showback.totals[0].unallocated_nanos == 0
    check = check_chargeback(showback, max_unallocated_share=Decimal("0.3"))
    assert not check.allowed and check.shares == (("USD", Decimal("0.5")),)


def test_purchases_are_their_own_row_and_total_outside_the_unallocated_share() -> None:
    records = [
        rec("30", resource_id="/untagged"),
        rec("70"),
        rec("2600", resource_id=None, meter_name="Provisioned Managed Global Unit"),  # type: ignore[arg-type]
    ]
    showback = build_showback(
        allocate(records, RULES, DRIVERS, dimensions=DIMS), by=("app",), period="2026-10", basis=Basis.ACTUAL
    )
    (total,) = showback.totals
    assert (total.allocated_nanos, total.purchases_nanos, total.unallocated_nanos) == (
        70 * 10**9,
        2600 * 10**9,
        30 * 10**9,
    )
    assert total.total_nanos == total.invoice_nanos
    (row,) = [r for r in showback.rows if r.bucket is Bucket.PURCHASES]
    assert row.drivers == ("reservation Provisioned Managed Global Unit",)
    assert [i.meter for i in showback.purchases] == ["Provisioned Managed Global Unit"]
    assert [i.amount_nanos for i in showback.unallocated] == [30 * 10**9]
    check = check_chargeback(showback, max_unallocated_share=Decimal("0.05"))
    assert check.shares == (("USD", Decimal(30) / Decimal(2700)),) and check.allowed
    note = purchase_note(showback)
    assert note is not None and "2600.00 USD" in note and "amortized" in note
    amortized = build_showback(
        allocate(records, RULES, DRIVERS, dimensions=DIMS),
        by=("app",),
        period="2026-10",
        basis=Basis.AMORTIZED,
    )
    assert purchase_note(amortized) is None  # amortized cost spreads purchases over the usage
