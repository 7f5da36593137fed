"""The CLI and the API print the same read model: one document, whichever adapter serves it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from aifinops.api.app import create_app
from aifinops.cli import app
from aifinops.config import load_settings
from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store
from aifinops.store.prices import PriceStore
from tests.factories import PRICE_START, event, gpt4o_prices

AS_OF = "2026-10-20T12:00:00+00:00"


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    url = f"sqlite:///{tmp_path / 'one.db'}"
    monkeypatch.setenv("AIFINOPS_DATABASE_URL", url)
    store = Store(url)
    store.upgrade()
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    day = dt.datetime(2026, 10, 1, 9, tzinfo=dt.UTC)
    events = [event(i, ts=day + dt.timedelta(days=i % 19, minutes=i), tenant="contoso") for i in range(60)]
    Ingestor(store).ingest(events, source="t")
    return store


def test_budgets_check_json_is_the_api_budget_status(db: Store) -> None:
    with TestClient(create_app(load_settings(database_url=db.url), store=db)) as api:
        created = api.post(
            "/api/budgets",
            json={
                "name": "contoso",
                "scope": {"tenant": "contoso"},
                "amount": "0.1",
                "currency": "USD",
                "thresholds": [{"percent": "50"}, {"percent": "100", "type": "forecast"}],
            },
        )
        assert created.status_code == 201, created.text
        served = api.get("/api/budgets/status", params={"as_of": AS_OF}).json()
    printed = CliRunner().invoke(app, ["budgets", "check", "--json", "--as-of", AS_OF])
    assert printed.exit_code in (0, 1), printed.output
    assert json.loads(printed.stdout) == served
    assert served["budgets"][0]["budget"] == "contoso" and served["budgets"][0]["crossed"]
