"""The API after retention: older events rejected by index on ts, raw-event reads of older periods a 404,
reads over the roll-ups still answer."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from aifinops.store import Store
from aifinops.store.retention import apply_retention
from tests.factories import T0, event_json


def test_events_before_the_horizon_are_rejected_on_ts(store: Store, client: TestClient) -> None:
    old = event_json(1, ts=(T0 - dt.timedelta(days=3)).isoformat())
    assert client.post("/api/events", json=[old]).json()["accepted"] == 1
    apply_retention(store, horizon=T0, keep_months=1, now=T0)
    reply = client.post("/api/events", json=[event_json(2), old, event_json(3)]).json()
    assert (reply["accepted"], reply["duplicates"], reply["rejected"]) == (2, 0, 1)
    assert [(e["index"], e["field"]) for e in reply["errors"]] == [(1, "ts")]
    assert "retention horizon" in reply["errors"][0]["reason"]


def test_a_raw_event_read_past_the_horizon_is_a_404_naming_retention(
    store: Store, client: TestClient
) -> None:
    client.post("/api/events", json=[event_json(1)])
    apply_retention(store, horizon=dt.datetime(2026, 11, 1, tzinfo=dt.UTC), keep_months=1, now=T0)
    gone = client.get("/api/token-usage", params={"period": "2026-10", "source": "apim"})
    assert gone.status_code == 404, gone.text
    assert gone.json()["title"] == "Past retention"
    assert "before 2026-11-01 were dropped by retention" in gone.json()["detail"]
    assert client.get("/api/token-usage", params={"period": "2026-11", "source": "apim"}).status_code == 200


def test_reads_over_the_roll_ups_keep_answering_past_the_horizon(store: Store, client: TestClient) -> None:
    client.post("/api/events", json=[event_json(1)])
    before = client.get("/api/estate", params={"period": "2026-10"}).json()
    apply_retention(store, horizon=dt.datetime(2026, 11, 1, tzinfo=dt.UTC), keep_months=1, now=T0)
    after = client.get("/api/estate", params={"period": "2026-10"})
    assert after.status_code == 200, after.text
    assert after.json() == before and before["use_cases"]
