"""Report writers keep every nano in csv/json/focus, show idle and unallocated lines, and escape HTML."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import defaultdict
from decimal import Decimal

import pytest

from aifinops.domain import Basis, CostRecord, to_nanos
from aifinops.engine.allocation import AllocationRule, Driver, Method, RecordMatch, allocate
from aifinops.engine.drivers.tokens import TOKENS
from aifinops.engine.drivers.usage_index import usage_sums
from aifinops.engine.showback import build_showback
from aifinops.queries.reports import FOCUS_COLUMNS, ReportFormat, render_focus, render_showback

DAY = dt.date(2026, 10, 5)
DIMS = ("app", "tenant")
AOAI = "/subscriptions/s/resourcegroups/rg-ai/providers/microsoft.cognitiveservices/accounts/aoai"
PTU = "/subscriptions/s/resourcegroups/rg-ai/providers/microsoft.cognitiveservices/accounts/ptu"
RECORDS = [
    CostRecord(
        DAY,
        Basis.ACTUAL,
        Decimal("10.000000001"),
        "USD",
        resource_id=AOAI,
        charge_type="Usage",
        meter_name="gpt 4o 0513 Input global Tokens",
        tags={"env": "prod"},
    ),
    CostRecord(DAY, Basis.ACTUAL, Decimal("4"), "USD", resource_id=PTU, meter_category="Azure OpenAI"),
    CostRecord(DAY, Basis.ACTUAL, Decimal("-1.5"), "USD", resource_id=AOAI, charge_type="Refund"),
    CostRecord(DAY, Basis.ACTUAL, Decimal("2.25"), "EUR", resource_id="/vm/<b>", meter_category="VM"),
]
RULES = [
    AllocationRule("aoai", Method.SHARED, match=RecordMatch(resource_ids=(AOAI,)), driver=TOKENS),
    AllocationRule(
        "ptu",
        Method.PROVISIONED,
        match=RecordMatch(resource_ids=(PTU,)),
        driver=TOKENS,
        capacity_per_day=400,
    ),
]
DRIVERS = [
    Driver(DAY, ("chat", "<t&1>"), usage_sums(tokens=2), resource_id=AOAI),
    Driver(DAY, ("rag", "t2"), usage_sums(tokens=1), resource_id=AOAI),
    Driver(DAY, ("rag", "t2"), usage_sums(tokens=100), resource_id=PTU),
]
RESULT = allocate(RECORDS, RULES, DRIVERS, dimensions=DIMS)
SHOWBACK = build_showback(RESULT, by=("app", "tenant"), period="2026-10", basis=Basis.ACTUAL)


def test_csv_amounts_are_exact_and_sum_to_the_invoice() -> None:
    rows = list(csv.DictReader(io.StringIO(render_showback(SHOWBACK, ReportFormat.CSV))))
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        sums[row["currency"]] += Decimal(row["amount"])
    assert sums == {"USD": Decimal("12.500000001"), "EUR": Decimal("2.25")}
    assert {row["bucket"] for row in rows} == {"allocated", "idle", "unallocated"}


def test_json_carries_money_as_strings_with_totals_and_unallocated_reasons() -> None:
    body = json.loads(render_showback(SHOWBACK, ReportFormat.JSON))
    assert body["basis"] == "actual" and body["by"] == ["app", "tenant"]
    assert all(isinstance(r["amount"], str) for r in body["rows"])
    usd = next(t for t in body["totals"] if t["currency"] == "USD")
    assert usd == {
        "currency": "USD",
        "allocated": "9.500000001",
        "idle": "3",
        "purchases": "0",
        "unallocated": "0",
        "total": "12.500000001",
        "invoice": "12.500000001",
    }
    assert body["unallocated"][0]["resource_id"] == "/vm/<b>"
    assert body["unallocated"][0]["reason"] == "no rule matches"


def test_table_shows_idle_and_unallocated_lines_and_says_it_rounds() -> None:
    text = render_showback(SHOWBACK, ReportFormat.TABLE)
    assert "(idle)" in text and "(unallocated)" in text and "aoai: tokens" in text
    assert "rounded to 2 decimals" in text


def test_html_escapes_owner_names() -> None:
    page = render_showback(SHOWBACK, ReportFormat.HTML)
    assert "&lt;t&amp;1&gt;" in page and "<t&1>" not in page


def test_focus_is_for_lines_not_the_summary() -> None:
    with pytest.raises(ValueError, match="render_focus"):
        render_showback(SHOWBACK, ReportFormat.FOCUS)


def test_focus_rows_conserve_each_charge_and_carry_allocation_columns() -> None:
    text = render_focus(RESULT, basis=Basis.ACTUAL, period=(dt.date(2026, 10, 1), dt.date(2026, 11, 1)))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == FOCUS_COLUMNS
    per_charge: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    ratios: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row in rows:
        assert row["EffectiveCost"] == "" and row["BillingPeriodEnd"] == "2026-11-01T00:00:00Z"
        key = (row["ResourceId"], row["ChargeCategory"] + row["BillingCurrency"])
        per_charge[key] += Decimal(row["BilledCost"])
        ratios[key] += Decimal(
            str(json.loads(row["AllocatedMethodDetails"])["Elements"][0]["AllocatedRatio"])
        )
    assert per_charge[(AOAI, "UsageUSD")] == Decimal("10.000000001")
    assert per_charge[(AOAI, "PurchaseUSD")] == Decimal("-1.5")
    assert all(abs(r - 1) < Decimal("1e-9") for r in ratios.values())
    refund = next(r for r in rows if r["ChargeCategory"] == "Purchase")
    assert refund["ChargeClass"] == "Correction"
    chat = next(r for r in rows if "chat" in r["AllocatedTags"])
    assert json.loads(chat["AllocatedTags"]) == {"app": "chat", "tenant": "<t&1>"}
    assert chat["AllocatedMethodId"] == "aoai" and json.loads(chat["Tags"]) == {"env": "prod"}
    assert chat["ResourceName"] == "aoai" and chat["ChargePeriodStart"] == "2026-10-05T00:00:00Z"
    assert sum(to_nanos(Decimal(r["BilledCost"])) for r in rows) == sum(to_nanos(r.cost) for r in RECORDS)
