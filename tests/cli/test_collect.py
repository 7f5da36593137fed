"""``aifinops collect`` as a user runs it: the README's options, an exclusive ``--to``, issues printed, and a
summary that survives a pipe."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aifinops.cli import app
from aifinops.domain import Basis
from aifinops.jobs.collect import SOURCE_NAMES
from aifinops.store import Store
from aifinops.store.cost_queries import read_cost_series, read_cost_totals
from tests import export_files

README = Path(__file__).resolve().parents[2] / "README.md"
OCT, NOV = dt.date(2026, 10, 1), dt.date(2026, 11, 1)
runner = CliRunner()


@pytest.fixture
def exports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_store: Store) -> Path:
    folder = tmp_path / "exports"
    folder.mkdir()
    monkeypatch.setenv("AIFINOPS_DATABASE_URL", sqlite_store.url)
    monkeypatch.setenv("AIFINOPS_AZURE__EXPORT_PATHS", json.dumps([str(folder)]))
    return folder


def test_the_readme_names_only_sources_the_cli_takes_and_help_lists_them() -> None:
    usage = README.read_text().split("`aifinops collect [", 1)[1][:800]
    named = re.search(r"--source ([\w|]+)", usage)
    assert named is not None and set(named.group(1).split("|")) == set(SOURCE_NAMES)
    assert "`--to` is exclusive" in usage
    help_text = runner.invoke(app, ["collect", "--help"], terminal_width=200).output
    assert all(name in help_text for name in SOURCE_NAMES)
    assert "exclusive" in help_text


def test_to_is_exclusive_like_the_api_end(exports: Path, sqlite_store: Store) -> None:
    export_files.write(exports, "contoso_ActualCost_202610.csv", export_files.ea_csv())
    result = runner.invoke(
        app, ["collect", "--from", "2026-10-01", "--to", "2026-10-03", "--source", "exports"]
    )
    assert result.exit_code == 0, result.output
    days = [p.period for p in read_cost_series(sqlite_store, OCT, NOV, basis=Basis.ACTUAL)]
    assert sorted(set(days)) == [dt.date(2026, 10, 1), dt.date(2026, 10, 2)]
    empty = runner.invoke(app, ["collect", "--from", "2026-10-03", "--to", "2026-10-03"])
    assert empty.exit_code != 0 and "--to" in str(empty.exception or empty.output)


def test_the_summary_is_whole_when_piped_and_issues_are_printed(exports: Path, sqlite_store: Store) -> None:
    text = export_files.ea_csv()
    export_files.write(exports, "contoso_ActualCost_202610.csv", text)
    copy = export_files.write(exports, "contoso_ActualCost_202610 (1).csv", text)
    result = runner.invoke(app, ["collect", "--from", "2026-10-01", "--to", "2026-11-01"])  # not a terminal
    assert result.exit_code == 0, result.output
    assert f"{export_files.MONTH_TOTAL} EUR" in result.stdout
    assert all(len(line) > 80 for line in result.stdout.splitlines() if "EUR" in line)  # never cut at 80
    assert f"{copy}" in result.stderr and "counted once" in result.stderr
    total = read_cost_totals(sqlite_store, OCT, NOV, basis=Basis.ACTUAL)["EUR"].amount
    assert total == export_files.MONTH_TOTAL


def test_a_cut_file_fails_the_run_naming_the_line_until_partial_data_is_accepted(
    exports: Path, sqlite_store: Store
) -> None:
    lines = export_files.ea_csv().split("\n")
    path = export_files.write(
        exports, "contoso_ActualCost_202610.csv", "\n".join(lines[:40]) + "\n" + lines[40][:60]
    )
    refused = runner.invoke(app, ["collect", "--from", "2026-10-01", "--to", "2026-11-01"])
    assert refused.exit_code == 1 and f"{path}:41" in refused.stderr and "--accept-partial" in refused.stderr
    assert read_cost_totals(sqlite_store, OCT, NOV, basis=Basis.ACTUAL) == {}
    accepted = runner.invoke(
        app, ["collect", "--from", "2026-10-01", "--to", "2026-11-01", "--accept-partial"]
    )
    assert accepted.exit_code == 0, accepted.output
    assert f"warning: {path}:41" in accepted.stderr
    kept = sum((r.cost for r in export_files.bill()[:39]), Decimal(0))
    assert read_cost_totals(sqlite_store, OCT, NOV, basis=Basis.ACTUAL)["EUR"].amount == kept
