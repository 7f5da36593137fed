"""The monthly cost review of the demo month: every section from the read models, against October and the
configured targets; HTML with inline SVG, Markdown, and a PDF printed by headless Chromium that reads back."""

from __future__ import annotations

import datetime as dt
import random
import shutil
import struct
import subprocess
import zlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from aifinops.cli import app as cli
from aifinops.config import ReviewSettings
from aifinops.domain import Basis, Outcome, TaskOutcome
from aifinops.jobs.chromium import screenshot
from aifinops.jobs.ingest import Ingestor
from aifinops.jobs.retention import run_retention
from aifinops.queries.anomalies import period_anomalies
from aifinops.queries.recommendations import recommendations_document
from aifinops.queries.review import REVIEW_SECTIONS, review_document
from aifinops.queries.review_render import render_review_html, render_review_markdown
from aifinops.queries.review_sections import SECTION_TITLES
from aifinops.store import Store
from aifinops.store.cost_queries import read_cost_totals
from aifinops.store.prices import PriceStore
from tests.factories import PRICE_START, event, gpt4o_prices, weekday_shaped_history

NOW = dt.datetime(2026, 12, 3, 9, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def doc(demo_store: Store) -> dict[str, Any]:
    settings = ReviewSettings(targets={"doc-qa": Decimal("0.40"), "case-summary": Decimal("1")})
    return review_document(
        demo_store,
        "2026-11",
        settings=settings,
        currency="USD",
        timezone="UTC",
        max_unallocated_share=Decimal("0.05"),
        now=NOW,
    )


def test_cost_per_successful_task_is_fully_loaded_beside_last_month_and_its_target(
    doc: dict[str, Any],
) -> None:
    assert doc["sections"] == list(REVIEW_SECTIONS) and doc["basis"] == "actual"
    rows = {r["use_case"]: r for r in doc["cost_per_successful_task"]}
    assert {"claim-triage", "doc-qa", "case-summary"} <= set(rows)
    doc_qa = rows["doc-qa"]
    assert doc_qa["previous"] is not None and doc_qa["change"] is not None  # October is in the store
    assert doc_qa["target"] == "0.40"
    assert doc_qa["status"] == (
        "above_target" if Decimal(doc_qa["cost_per_successful_task"]) > Decimal("0.40") else "within_target"
    )
    assert rows["case-summary"]["status"] == "within_target"
    assert rows["claim-triage"]["target"] is None and rows["claim-triage"]["status"] == "no_target"
    # The provisioned use case costs on the bill and on the estimate: its PTU hours split over its calls.
    assert Decimal(rows["claim-triage"]["cost_per_successful_task"]) > 0
    assert Decimal(rows["claim-triage"]["estimated"]) > 0


def test_summary_allocation_budgets_and_quality_come_from_the_stored_month(
    demo_store: Store, doc: dict[str, Any]
) -> None:
    nov, dec = dt.date(2026, 11, 1), dt.date(2026, 12, 1)
    actual = read_cost_totals(demo_store, nov, dec, basis=Basis.ACTUAL)["USD"].amount
    buckets = [Decimal(b["amount"]) for b in doc["summary"]["allocation"] if b["basis"] == "actual"]
    assert sum(buckets) == actual  # the picture sums to the invoice
    assert {s["budget"] for s in doc["budgets"]["statuses"]} == {
        "demo-contoso-monthly",
        "demo-doc-qa-monthly",
    }
    assert doc["budgets"]["alerts"] and all(a["period"] == "2026-11" for a in doc["budgets"]["alerts"])
    quality = doc["allocation_quality"]
    (usd,) = quality["unallocated"]
    assert Decimal(usd["share"]) >= 0 and usd["within_limit"] == (Decimal(usd["share"]) <= Decimal("0.05"))
    assert any(r.endswith("/stgenailegacy01") for r in quality["untagged_resources"])
    assert quality["ownership_gaps"] and quality["no_use_case"]
    data = doc["data_quality"]
    assert data["events"] > 0 and data["unpriced_events"] >= 0
    assert any(b["complete"] for b in data["billed_sources"])
    assert data["usage_sources"] and all(not u["stale"] for u in data["usage_sources"])
    assert doc["changes"]["previous_month_had_usage"] and doc["changes"]["new"]["use_case"] == []
    assert doc["estate"]["apps"] and doc["cost_drivers"]["use_cases"]


def test_top_recommendations_are_the_months_recommendations_in_the_levers_order(
    demo_store: Store, doc: dict[str, Any]
) -> None:
    nov, dec = (dt.datetime(2026, m, 1, tzinfo=dt.UTC) for m in (11, 12))
    api = recommendations_document(demo_store, start=nov, end=dec)
    recs = doc["recommendations"]
    assert recs["count"] == len(api["recommendations"]) > 0
    assert recs["top"] == api["recommendations"][:5] and recs["all_applied"] == api["all_applied"]
    assert [r["rank"] for r in recs["top"]] == list(range(1, len(recs["top"]) + 1))
    first = recs["top"][0]
    assert first["savings_per_month"] and first["stacked_savings_per_month"]
    # estimated, then fully loaded on the bases November is allocated on
    assert [a["basis"] for a in first["savings_per_month"]] == ["estimated", "actual", "amortized"]
    before = Decimal(first["cost_per_successful_task"]["before"][0]["amount"])
    after = Decimal(first["cost_per_successful_task"]["after"][0]["amount"])
    assert after < before
    page, md = render_review_html(doc), render_review_markdown(doc)
    for r in recs["top"]:
        assert f"<td>{r['title']}</td>" in page and f"| {r['rank']} | {r['title']} |" in md
    assert f"{before.quantize(Decimal('0.0001')):,} → {after.quantize(Decimal('0.0001')):,}" in page
    assert "Recommendations are not part" not in page


def test_html_and_markdown_show_every_section(doc: dict[str, Any]) -> None:
    page = render_review_html(doc)
    md = render_review_markdown(doc)
    for key in REVIEW_SECTIONS:
        assert f'<section id="{key}"><h2>{SECTION_TITLES[key]}</h2>' in page
        assert f"## {SECTION_TITLES[key]}" in md
    assert page.count("<svg") >= 4  # bill split, cost per task, budgets, estate
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "```mermaid" in md


def _png_pixels(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the raw (filtered) scanlines of an 8-bit PNG, by the file format alone."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos : pos + 4]), data[pos + 4 : pos + 8]
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", chunk[:8])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    return width, height, zlib.decompress(idat)


@pytest.mark.browser
def test_the_pack_renders_in_chromium_to_a_non_blank_png_and_a_pdf_with_its_sections(
    demo_store: Store, doc: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = tmp_path / "review.html"
    page.write_text(render_review_html(doc), encoding="utf-8")
    png = tmp_path / "review.png"
    screenshot(page, png, width=1200, height=1600)
    width, height, raw = _png_pixels(png)
    assert (width, height) == (1200, 1600)
    assert len(set(raw[: len(raw) // 2])) > 50  # text and charts, not one flat colour
    monkeypatch.setenv("AIFINOPS_DATABASE_URL", demo_store.url)
    pdf = tmp_path / "review.pdf"
    done = CliRunner().invoke(cli, ["review", "--period", "2026-11", "--format", "pdf", "--output", str(pdf)])
    assert done.exit_code == 0, done.output
    assert pdf.read_bytes()[:5] == b"%PDF-"
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        pytest.fail(
            "pdftotext is missing: apt-get install -y poppler-utils (scripts/services.sh does it as root)"
        )
    text = subprocess.run(
        [pdftotext, "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    for key in REVIEW_SECTIONS:
        assert SECTION_TITLES[key] in text, key
    assert "claim-triage" in text and "Monthly cost review 2026-11" in text
    flat = " ".join(text.split())
    recs = doc["recommendations"]
    shown = flat[
        flat.index(SECTION_TITLES["recommendations"]) : flat.index(SECTION_TITLES["allocation_quality"])
    ]
    assert f"All {recs['count']} applied:" in shown and "per month); cost per successful task" in shown
    assert all(f"{r['rank']} {r['lever']}: " in shown for r in recs["top"])


def test_cli_refuses_a_bad_period_or_format(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["review", "--period", "2026-13"]).exit_code != 0
    assert runner.invoke(cli, ["review", "--period", "2026-11", "--format", "docx"]).exit_code != 0


def test_a_month_past_retention_renders_from_its_aggregates_and_names_what_is_unavailable(
    store: Store,
) -> None:
    """Retention dropped September's raw events: the review still renders September from the roll-ups and
    task aggregates, and names each section that needs the raw events, with why."""
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    ingestor = Ingestor(store)
    for month in (dt.datetime(2026, 9, 1, tzinfo=dt.UTC), dt.datetime(2026, 10, 1, tzinfo=dt.UTC)):
        events = [
            event(
                i,
                event_id=f"{month:%m}-{i}",
                ts=month + dt.timedelta(hours=7 * i),
                task_id=f"{month:%m}-t{i}",
            )
            for i in range(6)
        ]
        ingestor.ingest(events, source="test")
        ingestor.record_outcomes(
            [
                TaskOutcome(
                    task_id=e.task_id or "", outcome=Outcome.SUCCEEDED, ended_at=e.ts, tenant=e.tenant
                )
                for e in events
            ]
        )
    now = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    run_retention(store, keep_months=1, now=now)
    september = review_document(
        store,
        "2026-09",
        settings=ReviewSettings(),
        currency="USD",
        timezone="UTC",
        max_unallocated_share=Decimal("0.05"),
        now=now,
    )
    assert set(september["unavailable"]) == {"recommendations"}
    assert "dropped by retention" in september["unavailable"]["recommendations"]
    assert september["recommendations"] is None
    assert september["summary"]["estimated"] == [
        {"basis": "estimated", "currency": "USD", "amount": "0.0195"}
    ]
    assert [r["tasks"] for r in september["cost_per_successful_task"]] == [6]
    for page in (render_review_html(september), render_review_markdown(september)):
        assert "Unavailable for 2026-09: the optimizer" in page and "dropped by retention" in page


def test_anomalies_are_the_local_days_of_the_month_judged_as_the_dashboard_judges_them(store: Store) -> None:
    """Off UTC (New York), the review judges each local day of the month by the one rule the dashboard's
    ``/api/anomalies/days`` uses (``period_anomalies``): a spike on the month's last local day is in the pack,
    and the day before the month is not judged."""
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    rng = random.Random(5)
    spikes = {("uc-a", dt.date(2026, 10, 31)), ("uc-b", dt.date(2026, 9, 30))}  # last local days
    events = []
    for use_case in ("uc-a", "uc-b"):
        for day, spend in weekday_shaped_history(rng, first=dt.date(2026, 8, 1), days=92, noise=0.1).items():
            factor = 6 if (use_case, day) in spikes else 1
            tokens = int(spend * factor * 40_000)  # 2.50 USD per 1M input tokens: a tenth of the spend
            # 22:00 in New York: the next UTC day, the same local day.
            at = dt.datetime.combine(day, dt.time(22), tzinfo=dt.UTC) + dt.timedelta(hours=4)
            events.append(
                event(len(events), ts=at, task_id=None, use_case=use_case, input_tokens=tokens,
                      cached_input_tokens=0, output_tokens=0)
            )  # fmt: skip
    Ingestor(store).ingest(events, source="test")
    tz = "America/New_York"
    doc = review_document(
        store,
        "2026-10",
        settings=ReviewSettings(),
        currency="USD",
        timezone=tz,
        max_unallocated_share=Decimal("0.05"),
        now=dt.datetime(2026, 11, 5, tzinfo=dt.UTC),
    )
    start, end = dt.date(2026, 10, 1), dt.date(2026, 11, 1)
    assert doc["anomalies"] == period_anomalies(store, start, end, by="use_case", tz=tz, currency="USD")
    found = {(a["scope"], a["at"]) for a in doc["anomalies"]}
    assert ("use_case=uc-a", "2026-10-31") in found
    assert all(a["at"] >= "2026-10-01" for a in doc["anomalies"])
