"""Export runs into the store: a cut file never changes the bill, a month is counted once, and only the days
asked for are written."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from aifinops.domain import Basis
from aifinops.jobs.collect import Collector
from aifinops.store import Store
from aifinops.store.cost_queries import read_cost_totals
from tests import export_files
from tests.factories import SAMPLES_DIR

RUN = "cccccccc-0000-0000-0000-000000000000"
SUB_B = "4f0c2b1e-0000-4000-8000-00000000b0b0"
OCT, NOV = dt.date(2026, 10, 1), dt.date(2026, 11, 1)


def _cut(text: str, *, line: int, keep: int) -> str:
    """``text`` ending after ``keep`` characters of (1-based) ``line``, as an interrupted copy leaves it."""
    lines = text.split("\n")
    return "\n".join(lines[: line - 1]) + "\n" + lines[line - 1][:keep]


def _open_quote(text: str, *, line: int) -> str:
    lines = text.split("\n")
    return "\n".join(lines[: line - 1]) + "\n" + lines[line - 1][: lines[line - 1].index('"team') + 5]


def _manifest(blob: str, *, byte_count: int) -> bytes:
    return orjson.dumps(
        {
            "manifestVersion": "2024-04-01",
            "exportConfig": {
                "exportName": "monthly",
                "type": "ActualCost",
                "resourceId": "/providers/Microsoft.Billing/billingAccounts/76543210/providers/"
                "Microsoft.CostManagement/exports/monthly",
            },
            "runInfo": {
                "runId": RUN,
                "submittedTime": "2026-11-02T06:00:00Z",
                "startDate": "2026-10-01T00:00:00",
                "endDate": "2026-10-31T00:00:00",
            },
            "blobs": [{"blobName": blob, "byteCount": byte_count}],
        }
    )


def _month(store: Store) -> Decimal:
    return read_cost_totals(store, OCT, NOV, basis=Basis.ACTUAL)["EUR"].amount


@pytest.mark.parametrize("damage", ["mid-row", "open quote"])
def test_a_truncated_file_is_reported_by_line_and_leaves_the_stored_month_unchanged(
    store: Store, tmp_path: Path, damage: str
) -> None:
    path = export_files.write(tmp_path, "contoso_ActualCost_202610.csv", export_files.ea_csv())
    collector = Collector(store, export_paths=[tmp_path])
    assert collector.collect(OCT, NOV).ok
    month = _month(store)
    text = export_files.ea_csv()
    path.write_text(_cut(text, line=41, keep=60) if damage == "mid-row" else _open_quote(text, line=41))
    summary = collector.collect(OCT, NOV)
    assert not summary.ok
    (error,) = summary.errors
    assert f"{path}:41" in error and "--accept-partial" in error, error
    assert _month(store) == month == export_files.MONTH_TOTAL


def test_partial_data_is_stored_only_when_accepted(store: Store, tmp_path: Path) -> None:
    text = export_files.ea_csv()
    export_files.write(tmp_path, "contoso_ActualCost_202610.csv", _open_quote(text, line=41))
    summary = Collector(store, export_paths=[tmp_path], accept_partial=True).collect(OCT, NOV)
    assert summary.ok, summary.errors
    (outcome,) = summary.outcomes
    assert any(":41: " in issue for issue in outcome.issues), outcome.issues
    complete = sum((r.cost for r in export_files.bill()[:39]), Decimal(0))
    assert _month(store) == complete


def test_a_run_whose_file_is_shorter_than_its_manifest_says_is_refused(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "monthly" / "20261001-20261031" / "202611020600" / RUN
    folder.mkdir(parents=True)
    text = export_files.ea_csv()
    (folder / "part_0_0001.csv").write_text(text)
    blob = f"costs/monthly/20261001-20261031/202611020600/{RUN}/part_0_0001.csv"
    (folder / "manifest.json").write_bytes(_manifest(blob, byte_count=len(text.encode()) + 120))
    summary = Collector(store, export_paths=[tmp_path]).collect(OCT, NOV)
    assert not summary.ok and "manifest" in summary.errors[0] and "part_0_0001.csv" in summary.errors[0]
    assert read_cost_totals(store, OCT, NOV, basis=Basis.ACTUAL) == {}


def test_short_rows_padded_by_the_reader_are_stored_on_both_databases(store: Store, tmp_path: Path) -> None:
    """A padded short row went through a DuckDB re-aggregation whose sums are DECIMAL: SQLite refused them."""
    shutil.copy(SAMPLES_DIR / "azure-cost-export/opencost/values_Template.csv", tmp_path / "t_ActualCost.csv")
    collector = Collector(store, export_paths=[tmp_path], default_currency="USD")
    summary = collector.collect(dt.date(2021, 2, 1), dt.date(2021, 3, 1))
    assert summary.ok, summary.errors
    total = read_cost_totals(store, dt.date(2021, 2, 1), dt.date(2021, 3, 1), basis=Basis.ACTUAL)
    assert {c: m.amount for c, m in total.items()} == {"USD": Decimal("16.393506212224391")}


def test_an_ea_and_a_focus_file_of_the_same_month_count_it_once(store: Store, tmp_path: Path) -> None:
    ea = export_files.write(tmp_path, "contoso_ActualCost_202610.csv", export_files.ea_csv())
    focus = export_files.write(tmp_path, "contoso_focus_202610.csv", export_files.focus_csv())
    summary = Collector(store, export_paths=[tmp_path]).collect(OCT, NOV)
    assert summary.ok, summary.errors
    assert _month(store) == export_files.MONTH_TOTAL
    usage = sum((r.cost for r in export_files.bill() if r.charge_type == "Usage"), Decimal(0))
    assert read_cost_totals(store, OCT, NOV, basis=Basis.AMORTIZED)["EUR"].amount == usage  # FOCUS only
    issues = [i for o in summary.outcomes if o.basis is Basis.ACTUAL for i in o.issues]
    assert any(str(ea) in i and str(focus) in i and "counted once" in i for i in issues), issues


def test_a_second_copy_of_a_file_is_counted_once_and_named(store: Store, tmp_path: Path) -> None:
    text = export_files.ea_csv()
    export_files.write(tmp_path, "contoso_ActualCost_202610.csv", text)
    collector = Collector(store, export_paths=[tmp_path])
    assert collector.collect(OCT, NOV).ok
    month = _month(store)
    copy = export_files.write(tmp_path, "contoso_ActualCost_202610 (1).csv", text)
    for _ in range(2):  # and a second cycle changes nothing
        summary = collector.collect(OCT, NOV)
        assert summary.ok, summary.errors
        assert _month(store) == month
        assert any(str(copy) in i and "counted once" in i for o in summary.outcomes for i in o.issues)


def test_two_different_deliveries_of_a_month_keep_the_newest_and_name_the_other(
    store: Store, tmp_path: Path
) -> None:
    import os

    rows = export_files.bill()
    corrected = [dataclasses.replace(r, cost=r.cost + 1) if r.day.day == 7 else r for r in rows]
    old = export_files.write(tmp_path, "a_ActualCost.csv", export_files.ea_csv(rows))
    new = export_files.write(tmp_path, "b_ActualCost.csv", export_files.ea_csv(corrected))
    os.utime(old, (1_700_000_000, 1_700_000_000))
    summary = Collector(store, export_paths=[tmp_path]).collect(OCT, NOV)
    assert summary.ok, summary.errors
    assert _month(store) == export_files.MONTH_TOTAL + 2  # the two corrected rows of the 7th, once
    (loser,) = [o for o in summary.outcomes if o.target == str(old)]
    assert any(f"overlaps {new}" in i for i in loser.issues), loser.issues
    assert loser.records == 0


def test_deliveries_of_different_subscriptions_are_both_kept(store: Store, tmp_path: Path) -> None:
    text = export_files.ea_csv()
    export_files.write(tmp_path, "a_ActualCost.csv", text)
    export_files.write(tmp_path, "b_ActualCost.csv", text.replace(export_files.SUBSCRIPTION, SUB_B))
    summary = Collector(store, export_paths=[tmp_path]).collect(OCT, NOV)
    assert summary.ok and not [i for o in summary.outcomes for i in o.issues]
    assert _month(store) == 2 * export_files.MONTH_TOTAL


def test_rows_outside_the_window_of_a_loose_file_are_not_stored_and_the_user_is_told(
    store: Store, tmp_path: Path
) -> None:
    export_files.write(tmp_path, "contoso_ActualCost_202610.csv", export_files.ea_csv())
    summary = Collector(store, export_paths=[tmp_path]).collect(dt.date(2026, 10, 10), dt.date(2026, 10, 20))
    assert summary.ok, summary.errors
    (outcome,) = summary.outcomes
    assert (outcome.start, outcome.end) == (dt.date(2026, 10, 10), dt.date(2026, 10, 20))
    inside = sum((r.cost for r in export_files.bill() if 10 <= r.day.day < 20), Decimal(0))
    assert _month(store) == inside
    outside = sum(1 for r in export_files.bill() if not 10 <= r.day.day < 20)
    assert any(f"{outside} row(s) billed outside 2026-10-10..2026-10-19" in i for i in outcome.issues)
