"""Priced from the first minute: a fresh database, `aifinops db upgrade`, the served API, and the README's own
/api/events example is priced at the shipped snapshot's list prices."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from aifinops.api.app import create_app
from aifinops.cli import app
from aifinops.config import load_settings
from aifinops.store import Store
from aifinops.store.price_queries import read_price_book_state, read_prices
from tests.served import Served

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_events() -> dict[str, object]:
    """The JSON body of the README's `curl … /api/events` example, exactly as the README writes it."""
    text = README.read_text(encoding="utf-8")
    match = re.search(r"/api/events -H 'content-type: application/json' -d '(.*?)'", text, re.DOTALL)
    assert match is not None, "the README has no /api/events example"
    body: dict[str, object] = json.loads(match.group(1))
    return body


@pytest.fixture
def upgraded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Store, str]:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("AIFINOPS_DATABASE_URL", url)
    monkeypatch.setenv("AIFINOPS_AZURE__RETAIL_PRICES_SYNC_SECONDS", "0")
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    return Store(url), result.output


@pytest.fixture
def served(upgraded: tuple[Store, str]) -> Iterator[str]:
    store, _ = upgraded
    server = Served(create_app(load_settings(), store=store, host="127.0.0.1"))
    try:
        yield server.url
    finally:
        server.stop()


def test_db_upgrade_seeds_an_empty_price_book_with_the_snapshot_and_says_so(
    upgraded: tuple[Store, str],
) -> None:
    store, output = upgraded
    assert "1567 list prices from the shipped snapshot aifinops/data/prices-2026-09.yaml" in output
    assert "(captured 2026-09-01)" in output
    assert "provenance: Real Azure Retail Prices API meters" in output
    state = read_price_book_state(store)
    assert state.prices == 1567 and state.captured_at is not None
    assert state.captured_at.date().isoformat() == "2026-09-01"
    assert state.source == "snapshot prices-2026-09.yaml"
    # a second upgrade leaves a price book that holds prices alone
    again = CliRunner().invoke(app, ["db", "upgrade"])
    assert again.exit_code == 0 and "shipped snapshot" not in again.output
    assert len(read_prices(store)) == 1567


def test_the_readme_event_example_is_priced_after_db_upgrade_and_serve(served: str) -> None:
    body = readme_events()
    answer = httpx.post(f"{served}/api/events", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["accepted"], answer.json()["unpriced"]) == (1, 0)
    assert answer.json()["inferred_versions"] == {"gpt-4o-mini": "2024-07-18"}
    costs = httpx.get(
        f"{served}/api/costs", params={"start": "2026-10-01", "end": "2026-10-02"}, timeout=30
    ).json()
    # gpt-4o-mini has no version in the example: the version in effect (2024-07-18) prices it, at the
    # snapshot's global standard list prices: 1376 × 0.00015 + 1024 × 0.000075 + 310 × 0.0006 per 1K tokens
    assert costs["basis"] == "estimated"
    assert costs["totals"] == [{"currency": "USD", "cost": "0.0004692"}]
    snapshot = httpx.get(f"{served}/api/snapshot", params={"period": "2026-10", "fresh": "true"}, timeout=30)
    book = snapshot.json()["price_book"]
    assert (book["prices"], book["captured_at"]) == (1567, "2026-09-01T00:00:00+00:00")
