"""POST /api/events after retention: events older than the horizon are rejected by index, the rest kept."""

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
