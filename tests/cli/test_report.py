"""`aifinops report showback|chargeback`: allocation written as a table, csv or FOCUS; chargeback gated."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aifinops.cli import app
from aifinops.domain import Basis, CostRecord
from aifinops.errors import ValidationError
from aifinops.store import Store
from aifinops.store.cost_records import CostRecordStore

runner = CliRunner()
RULES = """
rules:
  - name: tagged
    method: direct
    match: {tags: {app: "*"}}
    owner_tags: {app: app}
"""


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("AIFINOPS_DATABASE_URL", url)
    store = Store(url)
    store.upgrade()
    records = [
        CostRecord(
            dt.date(2026, 10, 1), Basis.ACTUAL, Decimal("90"), "USD", resource_id="/a", tags={"app": "crm"}
        ),
        CostRecord(dt.date(2026, 10, 9), Basis.ACTUAL, Decimal("10"), "USD", resource_id="/untagged-vm"),
    ]
    CostRecordStore(store).replace_slice(
        "t", "s", Basis.ACTUAL, dt.date(2026, 10, 1), dt.date(2026, 11, 1), records
    )
    store.dispose()
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    return rules


def test_showback_csv_totals_equal_the_invoice(db: Path) -> None:
    result = runner.invoke(
        app,
        ["report", "showback", "--period", "2026-10", "--by", "app", "--format", "csv", "--rules", str(db)],
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["app"], r["bucket"], r["amount"]) for r in rows] == [
        ("crm", "allocated", "90"),
        ("(unallocated)", "unallocated", "10"),
    ]


def test_showback_focus_rows(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "focus.csv"
    result = runner.invoke(
        app,
        [
            "report",
            "showback",
            "--period",
            "2026-10",
            "--format",
            "focus",
            "--rules",
            str(db),
            "--output",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert sum(Decimal(r["BilledCost"]) for r in rows) == Decimal("100")
    assert rows[0]["BillingPeriodStart"] == "2026-10-01T00:00:00Z"


def test_chargeback_is_refused_over_the_unallocated_share(db: Path) -> None:
    refused = runner.invoke(app, ["report", "chargeback", "--period", "2026-10", "--rules", str(db)])
    assert refused.exit_code != 0 and isinstance(refused.exception, ValidationError)
    assert "USD 10.00% exceeds the allowed 5.00%" in str(refused.exception)
    assert "/untagged-vm" in str(refused.exception)
    allowed = runner.invoke(
        app,
        ["report", "chargeback", "--period", "2026-10", "--rules", str(db), "--max-unallocated-share", "0.1"],
    )
    assert allowed.exit_code == 0, allowed.output
    assert "(unallocated)" in allowed.stdout


def test_bad_options_name_the_option(db: Path) -> None:
    result = runner.invoke(app, ["report", "showback", "--period", "10-2026"])
    assert isinstance(result.exception, ValidationError) and "--period must be a month YYYY-MM" in str(
        result.exception
    )
    result = runner.invoke(
        app, ["report", "showback", "--period", "2026-10", "--format", "pdf", "--rules", str(db)]
    )
    assert isinstance(result.exception, ValidationError) and "--format must be one of" in str(
        result.exception
    )
