"""deploy/grafana: provisioning files and dashboards that Grafana can load, whose data sources are the
provisioned ones, whose JSON API paths are routes of the app, and whose metrics — like those of the
Prometheus rules — are all served on a seeded /metrics (the API's or the gateway's)."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from aifinops.api.app import create_app
from aifinops.api.metrics import StoreCollector
from aifinops.config import load_settings
from aifinops.gateway.metrics import GatewayMetrics
from aifinops.gateway.recorder import Recorder
from aifinops.jobs.ingest import Ingestor
from aifinops.jobs.price_cache import PriceCache
from aifinops.store import Store

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
GRAFANA = DEPLOY / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
METRIC = re.compile(r"\baifinops_[a-z0-9_]+\b")


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _datasources() -> dict[str, str]:
    (path,) = (GRAFANA / "provisioning" / "datasources").glob("*.yaml")
    return {d["uid"]: d["type"] for d in _yaml(path)["datasources"]}


def _targets(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for p in board["panels"] for t in p.get("targets", [])]


def _dashboard_exprs() -> list[str]:
    exprs = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text(encoding="utf-8"))
        exprs += [t["expr"] for t in _targets(board) if "expr" in t]
        for var in board["templating"]["list"]:
            if var["type"] == "query":
                exprs.append(var["definition"])
    return exprs


def _rule_exprs() -> list[str]:
    return [
        r["expr"]
        for path in sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
        for g in _yaml(path)["groups"]
        for r in g["rules"]
    ]


def test_provisioning_names_a_prometheus_and_an_infinity_json_api_data_source() -> None:
    assert _datasources() == {
        "aifinops-prometheus": "prometheus",
        "aifinops-api": "yesoreyeram-infinity-datasource",
    }
    (providers,) = (GRAFANA / "provisioning" / "dashboards").glob("*.yaml")
    (provider,) = _yaml(providers)["providers"]
    assert provider["type"] == "file" and provider["options"]["path"].startswith(
        "/var/lib/grafana/dashboards"
    )


def test_dashboards_cover_each_subject_with_provisioned_data_sources_only() -> None:
    uids = _datasources()
    titles = set()
    for path in DASHBOARDS:
        board = json.loads(path.read_text(encoding="utf-8"))
        titles.add(board["uid"])
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: panel ids repeat"
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] in uids, f"{path.name}: {panel['title']}"
            assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
            for target in panel["targets"]:
                assert target["datasource"]["uid"] in uids
                assert ("expr" in target) != ("url" in target)
    assert titles == {
        "aifinops-cost-per-task",
        "aifinops-budgets",
        "aifinops-anomalies",
        "aifinops-gateway-limits",
        "aifinops-data-freshness",
    }


def test_every_json_api_query_is_a_get_route_of_the_app(sqlite_store: Store) -> None:
    schema = create_app(load_settings(), store=sqlite_store).openapi()
    routes = {path for path, ops in schema["paths"].items() if "get" in ops}
    paths = set()
    for path in DASHBOARDS:
        for target in _targets(json.loads(path.read_text(encoding="utf-8"))):
            if "url" in target:
                paths.add(urlsplit(target["url"]).path)
    assert paths and paths <= routes, sorted(paths - routes)


def _scraped(demo_store: Store, tmp_path: Path) -> dict[str, int]:
    """Sample names and counts on the API's /metrics over the demo month and on a gateway's /metrics."""
    settings = load_settings(metrics={"refresh_seconds": 0})
    registry = CollectorRegistry()
    registry.register(
        StoreCollector(
            demo_store, settings.metrics, clock=lambda: dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
        )
    )
    gateway = GatewayMetrics(
        Recorder(Ingestor(demo_store), spool_path=tmp_path / "spool.jsonl"),
        PriceCache(lambda: (0, 0), lambda: []),
    )
    samples: dict[str, int] = {}
    for text in (generate_latest(registry).decode(), gateway.exposition().decode()):
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[sample.name] = samples.get(sample.name, 0) + 1
    return samples


@pytest.mark.parametrize("where", ["dashboards", "rules"])
def test_every_metric_used_is_served_with_samples_on_a_seeded_metrics_endpoint(
    where: str, demo_store: Store, tmp_path: Path
) -> None:
    exprs = _dashboard_exprs() if where == "dashboards" else _rule_exprs()
    used = {name for expr in exprs for name in METRIC.findall(expr)}
    assert used
    scraped = _scraped(demo_store, tmp_path)
    missing = sorted(name for name in used if not scraped.get(name))
    assert not missing, f"{where} use metrics that /metrics does not serve: {missing}"
