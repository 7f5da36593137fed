"""The Discover deliverables over the demo month: the estate from inventory and usage, each use case's cost
drivers in money, drawn as Markdown, Mermaid and SVG, served on /api/estate and /api/cost-drivers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from aifinops.api.app import create_app
from aifinops.cli import app as cli
from aifinops.config import load_settings
from aifinops.demo.estate import PTU_DEPLOYMENT, PTU_UNITS
from aifinops.domain import Basis, to_nanos
from aifinops.jobs.provisioned_units import DEPLOYMENT_TYPE, inventory_units
from aifinops.queries.cost_drivers import cost_drivers_document
from aifinops.queries.estate import estate_document
from aifinops.queries.estate_render import estate_markdown, estate_mermaid, estate_svg
from aifinops.queries.inventory import inventory_document
from aifinops.store import Store
from aifinops.store.allocation_queries import read_allocation
from aifinops.store.usage_queries import usage_totals

NOV, DEC = dt.date(2026, 11, 1), dt.date(2026, 12, 1)


@pytest.fixture(scope="module")
def estate(demo_store: Store) -> dict:  # type: ignore[type-arg]
    return estate_document(demo_store, start=NOV, end=DEC)


@pytest.fixture(scope="module")
def drivers(demo_store: Store) -> dict:  # type: ignore[type-arg]
    return cost_drivers_document(demo_store, start=NOV, end=DEC)


def test_estate_links_apps_use_cases_deployments_and_accounts_with_owners(estate: dict) -> None:  # type: ignore[type-arg]
    apps = {a["app"]: a for a in estate["apps"]}
    assert apps["claims-agent"]["use_cases"] == ["claim-triage"]
    assert apps["support-copilot"]["use_cases"] == ["case-summary", "reply-draft"]
    assert apps["claims-agent"]["teams"] == ["claims-platform"] and apps["claims-agent"]["cost_centers"]
    use_cases = {u["use_case"]: u for u in estate["use_cases"]}
    assert use_cases["claim-triage"]["deployments"] == ["gpt-4.1-ptu"]
    deployments = {d["deployment"]: d for d in estate["deployments"]}
    assert deployments["gpt-4.1-ptu"]["models"] == [
        {"model": "gpt-4.1", "deployment_type": "global_provisioned"}
    ]
    (ptu,) = deployments["gpt-4.1-ptu"]["accounts"]
    account = next(a for a in estate["accounts"] if a["resource_id"] == ptu)
    assert account["owner"] == "ai-platform" and "cost_center" in account["missing"]


def test_shared_resources_name_their_kind_owner_and_who_was_allocated_them(estate: dict) -> None:  # type: ignore[type-arg]
    kinds = {s["kind"] for s in estate["shared_resources"]}
    assert {"AI Search", "API Management", "Log Analytics", "Storage"} <= kinds
    search = next(s for s in estate["shared_resources"] if s["kind"] == "AI Search")
    assert search["owner"] == "knowledge"
    assert {u["use_case"] for u in search["used_by"]} >= {"doc-qa", "lead-research"}
    assert any(r.endswith("/stgenailegacy01") for r in estate["unowned_resources"])


def test_drivers_split_each_use_case_in_money_and_add_up(demo_store: Store, drivers: dict) -> None:  # type: ignore[type-arg]
    items = {u["use_case"]: u for u in drivers["use_cases"]}
    start, end = (dt.datetime.combine(d, dt.time(), dt.UTC) for d in (NOV, DEC))
    usage = {
        (r["use_case"] or "(no use case)"): int(r["cost_nanos"] or 0)
        for r in usage_totals(demo_store, group_by=["use_case"], start=start, end=end)
        if r["currency"]
    }
    for name, item in items.items():
        estimated = [d for d in item["drivers"] if d["basis"] == "estimated"]
        total = to_nanos(Decimal(item["estimated"]["amount"]))
        assert sum(to_nanos(Decimal(d["amount"])) for d in estimated) == total == usage.get(name, 0), name
    assert any(d["driver"] == "reasoning_tokens" for d in items["doc-qa"]["drivers"])
    triage = {d["driver"]: d for d in items["claim-triage"]["drivers"]}
    assert triage["provisioned_throughput"]["basis"] == "actual" and "idle_capacity" in triage
    assert items["claim-triage"]["top_driver"] in ("provisioned_throughput", "idle_capacity")
    # Allocated services of every use case add up to the allocated share of the bill.
    result = read_allocation(demo_store, NOV, DEC, basis=Basis.ACTUAL)
    allocated = sum(sum(p.amounts) for p in result.parts if p.bucket.value == "allocated")
    assert (
        sum(to_nanos(Decimal(u["allocated"]["amount"])) for u in items.values() if u["allocated"])
        == allocated
    )


def test_mermaid_and_svg_draw_every_node_and_markdown_every_table(estate: dict) -> None:  # type: ignore[type-arg]
    mermaid = estate_mermaid(estate)
    assert mermaid.startswith("flowchart LR\n") and "app_claims_agent --> uc_claim_triage" in mermaid
    assert "-.->" in mermaid  # shared resources' users
    svg = ElementTree.fromstring(estate_svg(estate))
    texts = {t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")}
    assert {"Apps", "Use cases", "Deployments", "Accounts", "Shared resources", "claim-triage"} <= texts
    md = estate_markdown(estate)
    for heading in ("### Apps", "### Use cases", "### Deployments", "### Accounts", "### Shared resources"):
        assert heading in md
    assert "```mermaid" in md


def test_cli_discover_writes_each_format(
    demo_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIFINOPS_DATABASE_URL", demo_store.url)
    runner = CliRunner()
    md = runner.invoke(cli, ["discover", "--period", "2026-11"])
    assert md.exit_code == 0, md.output
    assert "## Cost drivers per use case" in md.stdout and "claim-triage" in md.stdout
    out = tmp_path / "estate.svg"
    svg = runner.invoke(cli, ["discover", "--period", "2026-11", "--format", "svg", "--output", str(out)])
    assert svg.exit_code == 0 and out.read_text(encoding="utf-8").startswith("<svg")
    bad = runner.invoke(cli, ["discover", "--period", "2026-11", "--format", "png"])
    assert bad.exit_code != 0


def test_api_serves_the_estate_and_the_drivers(demo_store: Store) -> None:
    with TestClient(create_app(load_settings(), store=demo_store)) as client:
        estate = client.get("/api/estate", params={"period": "2026-11"})
        assert estate.status_code == 200 and estate.json()["apps"]
        drivers = client.get("/api/cost-drivers", params={"period": "2026-11", "basis": "amortized"})
        assert drivers.status_code == 200 and drivers.json()["basis"] == "amortized"
        bad = client.get("/api/cost-drivers", params={"period": "2026-11", "basis": "list"})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "basis"


def test_the_ptu_deployment_shows_its_units_from_the_inventory(demo_store: Store, estate: dict) -> None:  # type: ignore[type-arg]
    """The demo's inventory holds its provisioned deployment with its SKU capacity (the units the estimate
    takes when configuration names none); the estate and /api/inventory show them."""
    deployments = {d["deployment"]: d for d in estate["deployments"]}
    assert deployments[PTU_DEPLOYMENT]["provisioned_units"] == PTU_UNITS
    assert deployments["gpt-4o-glbl"]["provisioned_units"] is None  # pay as you go
    row = next(
        line for line in estate_markdown(estate).splitlines() if line.startswith(f"| {PTU_DEPLOYMENT} ")
    )
    assert f"| {PTU_UNITS} |" in row
    assert inventory_units(demo_store)[PTU_DEPLOYMENT].units == PTU_UNITS
    listed = inventory_document(demo_store, resource_type=DEPLOYMENT_TYPE, unowned=False, tenant=None)
    (item,) = [i for i in listed["items"] if i["name"] == PTU_DEPLOYMENT]
    assert (item["sku"], item["sku_capacity"]) == ("GlobalProvisionedManaged", PTU_UNITS)
