"""The gateway's /metrics: prometheus_client text with the counter and gauge names dashboards rely on."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from aifinops.gateway.app import create_gateway
from aifinops.gateway.recorder import Recorder
from aifinops.jobs.price_cache import PriceCache

from .conftest import GATEWAY_SECRET, AllowAll, FakeAzureOpenAI, ListSink, gateway_config, memory_keys


async def test_metrics_name_every_counter_and_gauge_with_its_value(tmp_path: Path) -> None:
    recorder = Recorder(ListSink(), spool_path=tmp_path / "spool.jsonl")
    upstream = httpx.AsyncClient(transport=httpx.ASGITransport(app=FakeAzureOpenAI()))
    app = create_gateway(
        gateway_config(),
        keys=memory_keys(),
        enforcer=AllowAll(),
        recorder=recorder,
        http=upstream,
        prices=PriceCache(lambda: (0, 0), lambda: []),
    )
    await app.startup()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
        assert (await client.post("/v1/chat/completions", json=body)).status_code == 401
        ok = await client.post("/v1/chat/completions", headers={"api-key": GATEWAY_SECRET}, json=body)
        assert ok.status_code == 200
        await recorder.flush()
        response = await client.get("/metrics")
    await app.shutdown()
    await upstream.aclose()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {s.name: s.value for f in text_string_to_metric_families(response.text) for s in f.samples}
    assert samples == {
        "aifinops_gateway_requests_total": 2,
        "aifinops_gateway_refused_total": 0,
        "aifinops_gateway_unauthorized_total": 1,
        "aifinops_gateway_upstream_attempts_total": 1,
        "aifinops_gateway_upstream_errors_total": 0,
        "aifinops_gateway_fallbacks_total": 0,
        "aifinops_gateway_usage_events_recorded_total": 1,
        "aifinops_gateway_usage_events_ingested_total": 1,
        "aifinops_gateway_usage_events_spooled_total": 0,
        "aifinops_gateway_usage_events_replayed_total": 0,
        "aifinops_gateway_usage_events_store_errors_total": 0,
        "aifinops_gateway_usage_events_rejected_total": 0,
        "aifinops_gateway_price_book_errors_total": 0,
        "aifinops_gateway_usage_events_queued": 0,
        "aifinops_gateway_store_up": 1,
    }
    assert "# TYPE aifinops_gateway_store_up gauge" in response.text
