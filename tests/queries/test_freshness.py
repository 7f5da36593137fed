"""Data freshness lists billed cost beside usage: after a collection, the snapshot and /metrics show when
each billed-cost source was collected and the newest billing day it holds."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from aifinops.api.app import create_app
from aifinops.config import load_settings
from aifinops.jobs.collect import Collector
from aifinops.queries.snapshot import snapshot_document
from aifinops.store import Store
from aifinops.store.usage_queries import UsageQuery
from tests import export_files

OCT = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
NOV = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
NEWEST_DAY = dt.datetime(2026, 10, 31, tzinfo=dt.UTC)


def test_snapshot_and_metrics_freshness_list_billed_cost_sources(store: Store, tmp_path: Path) -> None:
    export_files.write(tmp_path, "contoso_ActualCost_202610.csv", export_files.ea_csv())
    export_files.write(tmp_path, "contoso_focus_202610.csv", export_files.focus_csv())
    assert Collector(store, export_paths=[tmp_path]).collect(OCT.date(), NOV.date()).ok
    body = snapshot_document(
        store, UsageQuery(start=OCT, end=NOV), timezone="UTC", tenant=None, now=NOV + dt.timedelta(days=2)
    )
    billed = {f["source"]: f for f in body["freshness"] if f["source"].startswith("billed:")}
    assert set(billed) == {"billed:file:actual", "billed:file:amortized"}
    assert all(f["last_data_ts"] == NEWEST_DAY.isoformat() and f["last_ingest_at"] for f in billed.values())
    with TestClient(create_app(load_settings(), store=store)) as client:
        families = {f.name: f.samples for f in text_string_to_metric_families(client.get("/metrics").text)}
    sources = {s.labels["source"] for s in families["aifinops_last_ingest_timestamp_seconds"]}  # type: ignore[attr-defined]
    assert {"billed:file:actual", "billed:file:amortized"} <= sources
