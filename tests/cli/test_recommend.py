"""`aifinops recommend` and `aifinops whatif`: the same documents as the API, as a table, JSON or Markdown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aifinops.cli import app
from aifinops.demo.simulation import Waste
from aifinops.errors import ValidationError
from aifinops.store import Store
from tests.factories import load_simulated_month

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("AIFINOPS_DATABASE_URL", url)
    store = Store(url)
    store.upgrade()
    load_simulated_month(store, Waste("doc-qa", retries=0.3, context=0.3), scale=0.05)
    store.dispose()
    return tmp_path


def test_recommend_prints_json_md_and_a_table_in_the_levers_order(db: Path) -> None:
    r = runner.invoke(app, ["recommend", "--period", "2026-10", "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    # doc-qa's prompts are never cached either (the simulator's own waste)
    assert [x["lever"] for x in doc["recommendations"]] == ["retries", "context", "caching"]
    md = runner.invoke(app, ["recommend", "--period", "2026-10", "--format", "md"])
    assert md.exit_code == 0 and "## 1. retries: use_case=doc-qa" in md.stdout
    table = runner.invoke(app, ["recommend", "--period", "2026-10"])
    assert table.exit_code == 0 and "retries" in table.stdout and "context" in table.stdout
    mine = runner.invoke(
        app, ["recommend", "--period", "2026-10", "--format", "json", "--where", "tenant=contoso"]
    )
    assert json.loads(mine.stdout)["filters"] == {"tenant": ["contoso"]}


def test_whatif_prices_a_scenario_file_or_the_first_recommendations_alike(db: Path) -> None:
    doc = json.loads(runner.invoke(app, ["recommend", "--period", "2026-10", "--format", "json"]).stdout)
    scenario = db / "scenario.json"
    scenario.write_text(json.dumps([r["scenario"][0] for r in doc["recommendations"]]), encoding="utf-8")
    by_file = runner.invoke(
        app, ["whatif", "--period", "2026-10", "--scenario", f"@{scenario}", "--format", "json"]
    )
    by_top = runner.invoke(app, ["whatif", "--period", "2026-10", "--top", "3", "--format", "json"])
    assert by_file.exit_code == 0 and by_top.exit_code == 0, by_file.output + by_top.output
    assert (
        json.loads(by_file.stdout)["savings"]
        == json.loads(by_top.stdout)["savings"]
        == doc["all_applied"]["savings"]
    )
    md = runner.invoke(app, ["whatif", "--period", "2026-10", "--top", "1"])
    assert "cost per successful task" in md.stdout


def test_a_bad_scenario_is_an_error_naming_the_field(db: Path) -> None:
    r = runner.invoke(app, ["whatif", "--period", "2026-10", "--scenario", '[{"lever": "loops"}]'])
    assert r.exit_code != 0 and isinstance(r.exception, ValidationError)
    assert r.exception.field == "scenario[0]" and "max_steps" in str(r.exception)
    bad = '[{"lever": "retrieval", "max_retrieved_tokens": -5}]'
    r = runner.invoke(app, ["whatif", "--period", "2026-10", "--scenario", bad])
    assert r.exit_code != 0 and isinstance(r.exception, ValidationError)
    assert r.exception.field == "scenario[0].max_retrieved_tokens"


def test_whatif_takes_a_retrieval_budget(db: Path) -> None:
    part = '[{"lever": "retrieval", "scope": {"use_case": "doc-qa"}, "max_retrieved_tokens": 4096}]'
    r = runner.invoke(app, ["whatif", "--period", "2026-10", "--scenario", part, "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["scenario"][0]["max_retrieved_tokens"] == 4096
    assert float(doc["savings"][0]["amount"]) > 0


def test_whatif_uses_the_configured_optimize_settings(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    part = json.dumps(
        [{"lever": "provisioning", "scope": {"deployment": "gpt-4.1-mini-glbl"}, "ptu_units": 15}]
    )
    args = ["whatif", "--period", "2026-10", "--scenario", part, "--format", "json"]
    table = runner.invoke(app, args)
    monkeypatch.setenv("AIFINOPS_OPTIMIZE__PTU_THROUGHPUT", '{"gpt-4.1-mini-glbl": 1}')
    tiny = runner.invoke(app, args)
    assert table.exit_code == 0 and tiny.exit_code == 0, table.output + tiny.output
    # one token a minute per PTU: nearly every token spills over to pay-as-you-go
    assert json.loads(tiny.stdout)["after"] != json.loads(table.stdout)["after"]
    monkeypatch.setenv("AIFINOPS_OPTIMIZE__MIN_SHARE", "1")
    top = runner.invoke(app, ["whatif", "--period", "2026-10", "--top", "3", "--format", "json"])
    assert top.exit_code == 0 and json.loads(top.stdout)["scenario"] == []  # nothing worth recommending
