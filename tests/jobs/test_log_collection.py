"""The Log Analytics sources end to end: the real LogsQueryClient against the emulator's Logs query API,
into the store — overlapping windows, late rows, multi-row messages, streams, unmapped subscriptions,
partial answers, throttling, too many rows, an unreadable workspace and rows that cannot be used."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from aifinops.domain import DeploymentType
from aifinops.emulator import Fault
from aifinops.emulator.log_tables import (
    app_dependency,
    app_event,
    app_metric,
    gateway_log,
    llm_log_rows,
    usage_row,
)
from aifinops.jobs.collect import Collector
from aifinops.jobs.log_collection import LogSources
from aifinops.sources.apim_logs import ApimMap, ApimRoute
from aifinops.store import Store
from aifinops.store.freshness_queries import read_freshness
from aifinops.store.log_watermark_queries import read_watermarks
from aifinops.store.metric_sample_queries import read_metric_samples
from aifinops.store.prices import PriceStore
from aifinops.store.tables import task_outcomes, usage_events
from tests.factories import LogsEmulator, gpt4o_prices

WS = "6d2b4c1e-0000-4a51-9c0e-2f4d8e6a1b90"
APIM = "/subscriptions/s1/resourcegroups/rg/providers/microsoft.apimanagement/service/apim-hr"
NOW = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC)
DAY1, DAY3 = dt.date(2026, 11, 1), dt.date(2026, 11, 3)
HR = ApimRoute(
    subscription="sub-hr",
    dimensions={"app": "hr-assistant", "use_case": "policy-qa"},
    deployment_type=DeploymentType.GLOBAL_STANDARD,
)


def _request(
    cid: str,
    ts: dt.datetime,
    *,
    prompt: int | None = 1000,
    completion: int | None = 200,
    subscription: str = "sub-hr",
    task: str | None = None,
    chunks: int = 1,
    stream: bool = False,
    model: str = "gpt-4o-2024-11-20",
) -> list[dict[str, Any]]:
    headers = {"x-request-task": task} if task else {}
    return [
        *llm_log_rows(
            cid,
            ts,
            deployment="gpt-4o-glbl",
            model=model,
            prompt_tokens=prompt,
            completion_tokens=completion,
            resource_id=APIM,
            chunks=chunks,
            stream=stream,
        ),
        gateway_log(cid, ts, subscription=subscription, headers=headers, resource_id=APIM),
    ]


@pytest.fixture
def emu() -> Iterator[LogsEmulator]:
    with LogsEmulator() as e:
        e.state.add_log_rows(WS, [])
        yield e


def _collector(store: Store, emu: LogsEmulator, *, now: dt.datetime = NOW, **client: Any) -> Collector:
    PriceStore(store).save(gpt4o_prices(), now=now)
    logs = LogSources(
        emu.client(**client),
        (WS,),
        overlap=dt.timedelta(hours=2),
        apim_map=ApimMap([HR]),
        task_headers=("x-aifinops-task-id", "x-request-task"),
    )
    return Collector(store, logs=logs, clock=lambda: now)


def _events(store: Store, source: str = "apim") -> list[dict[str, Any]]:
    e = usage_events.c
    with store.reader() as conn:
        rows = conn.execute(sa.select(usage_events).where(e.source == source).order_by(e.event_id))
        return [dict(r._mapping) for r in rows]


def test_api_management_requests_become_events_once_however_many_rows_and_runs(
    store: Store, emu: LogsEmulator
) -> None:
    t = dt.datetime(2026, 11, 2, 9, 30, tzinfo=dt.UTC)
    emu.state.add_log_rows(WS, _request("c-long", t, chunks=4, task="T-1"))  # a message split over rows
    emu.state.add_log_rows(WS, _request("c-stream", t, stream=True, chunks=6, task="T-1"))
    emu.state.add_log_rows(WS, _request("c-other", t, subscription="sub-unknown", prompt=50, completion=5))
    collector = _collector(store, emu)
    first = collector.collect(DAY1, DAY3, sources=["apim"])
    assert first.ok, first.errors
    events = _events(store)
    assert [e["event_id"] for e in events] == ["apim-c-long", "apim-c-other", "apim-c-stream"]
    long, other, stream = events
    assert (long["input_tokens"], long["output_tokens"], long["task_id"]) == (1000, 200, "T-1")
    assert (long["app"], long["use_case"], long["deployment"], long["model"]) == (
        "hr-assistant",
        "policy-qa",
        "gpt-4o-glbl",
        "gpt-4o",
    )
    assert long["cost_nanos"] == 2_500_000 + 2_000_000  # 1000 in at 2.50/M, 200 out at 10/M
    assert '"apim.stream": "true"' in stream["attributes"]
    assert other["app"] is None and '"apim.unmapped": "true"' in other["attributes"]  # kept, marked
    (requests,) = first.outcomes[:1]
    assert any("unmapped" in i and "sub-unknown" in i for i in requests.issues)
    again = collector.collect(DAY1, DAY3, sources=["apim"])
    assert again.ok and len(_events(store)) == 3  # re-reading the window counts nothing twice
    totals = {
        s.metric: s.value
        for s in read_metric_samples(store, t.replace(minute=0), NOW)
        if s.metric.endswith("Tokens") and s.dimensions.get("subscription") == "sub-hr"
    }
    assert totals == {
        "ApiManagementGatewayLlmLog.PromptTokens": 2000,
        "ApiManagementGatewayLlmLog.CompletionTokens": 400,
    }


def test_the_overlap_finds_late_rows_and_the_watermark_moves_on(store: Store, emu: LogsEmulator) -> None:
    emu.state.add_log_rows(WS, _request("early", dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)))
    _collector(store, emu).collect(DAY1, DAY3, sources=["apim"])
    (mark,) = [w for w in read_watermarks(store) if w.query == "apim_requests"]
    assert mark.watermark == NOW
    later = NOW + dt.timedelta(hours=1)
    # Arrived after the first run, stamped before its end: inside the overlap, so read now.
    emu.state.add_log_rows(WS, _request("late", NOW - dt.timedelta(minutes=50)))
    emu.state.add_log_rows(WS, _request("new", NOW + dt.timedelta(minutes=30)))
    emu.state.add_log_rows(WS, _request("too-late", NOW - dt.timedelta(hours=5)))  # older than the overlap
    emu.state.log_queries.clear()
    summary = _collector(store, emu, now=later).collect(DAY1, DAY3, sources=["apim"])
    assert summary.ok
    assert [e["event_id"] for e in _events(store)] == ["apim-early", "apim-late", "apim-new"]
    asked = next(q for q in emu.state.log_queries if q["query"] == "apim_requests")
    assert asked["timespan"].startswith(
        "2026-11-02T09:00:00"
    )  # watermark 12:00 less 2 h, on the hour, less the join pad
    assert {w.query: w.watermark for w in read_watermarks(store)}["apim_requests"] == later
    fresh = {f["source"]: f for f in read_freshness(store)}
    assert fresh["apim:apim_requests"]["last_data_ts"] == NOW + dt.timedelta(minutes=30)
    assert "usage:apim" in fresh


def test_rows_that_cannot_be_used_are_counted_with_a_sample_and_the_rest_kept(
    store: Store, emu: LogsEmulator
) -> None:
    t = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)
    emu.state.add_log_rows(WS, _request("ok", t))
    emu.state.add_log_rows(WS, _request("neg", t, prompt=-5))
    emu.state.add_log_rows(WS, _request("none", t, prompt=None, completion=None))
    emu.state.add_log_rows(WS, _request("odd-model", t, model="gpt-9-turbo"))
    summary = _collector(store, emu).collect(DAY1, DAY3, sources=["apim"])
    assert summary.ok
    issues = " | ".join(summary.outcomes[0].issues)
    assert "1 row with negative tokens, e.g. CorrelationId=neg" in issues
    assert "1 row with missing PromptTokens or CompletionTokens, e.g. CorrelationId=none" in issues
    assert "1 row with no price in effect (kept, unpriced), e.g." in issues and "gpt-9-turbo" in issues
    assert [e["event_id"] for e in _events(store)] == ["apim-odd-model", "apim-ok"]


def test_token_metrics_are_samples_beside_the_events_never_added_to_them(
    store: Store, emu: LogsEmulator
) -> None:
    t = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)
    emu.state.add_log_rows(WS, _request("c1", t))
    dims = {"Subscription ID": "sub-hr", "API ID": "azure-openai", "Deployment": "gpt-4o-glbl"}
    emu.state.add_log_rows(
        WS,
        [
            app_metric(t, name="Prompt Tokens", total=600.0, count=2, dimensions=dims),
            app_metric(
                t + dt.timedelta(minutes=1), name="Prompt Tokens", total=400.0, count=1, dimensions=dims
            ),
            app_metric(t, name="Completion Tokens", total=200.0, count=3, dimensions=dims),
        ],
    )
    collector = _collector(store, emu)
    assert collector.collect(DAY1, DAY3, sources=["apim"]).ok
    assert collector.collect(DAY1, DAY3, sources=["apim"]).ok
    samples = [
        s for s in read_metric_samples(store, t, NOW) if s.metric in ("Prompt Tokens", "Completion Tokens")
    ]
    assert {(s.metric, s.value, s.deployment) for s in samples} == {
        ("Prompt Tokens", 1000, "gpt-4o-glbl"),
        ("Completion Tokens", 200, "gpt-4o-glbl"),
    }
    assert samples[0].dimensions["app"] == "hr-assistant"  # the mapping's dimensions, by Subscription ID
    assert sum(e["input_tokens"] for e in _events(store)) == 1000  # the one request, not 1000 more


def test_partial_answers_keep_their_rows_and_the_watermark(store: Store, emu: LogsEmulator) -> None:
    emu.state.add_log_rows(WS, _request("c1", dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)))
    emu.state.inject("logs", Fault(200))  # the first query's answer carries a PartialError
    summary = _collector(store, emu, window=dt.timedelta(hours=24)).collect(DAY1, DAY3, sources=["apim"])
    assert summary.ok
    notes = " | ".join(summary.outcomes[0].issues)
    assert "partial result: PartialError" in notes and "watermark kept" in notes
    assert [w.query for w in read_watermarks(store)] == ["apim_token_metrics"]


def test_throttling_is_retried_with_and_without_retry_after(store: Store, emu: LogsEmulator) -> None:
    emu.state.add_log_rows(WS, _request("c1", dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)))
    emu.state.inject(
        "logs", Fault(429, retry_after=0), Fault(429, retry_after=-1), Fault(429, retry_after=-1)
    )
    summary = _collector(store, emu, window=dt.timedelta(hours=48)).collect(DAY1, DAY3, sources=["apim"])
    assert summary.ok, summary.errors
    assert [e["event_id"] for e in _events(store)] == ["apim-c1"]
    assert emu.state.calls["logs"] == 2 + 3  # two queries, three throttled answers


def test_a_window_with_too_many_rows_is_split_until_each_half_fits(store: Store, emu: LogsEmulator) -> None:
    start = dt.datetime(2026, 11, 2, 0, 0, tzinfo=dt.UTC)
    for i in range(12):
        emu.state.add_log_rows(WS, _request(f"c{i:02d}", start + dt.timedelta(minutes=50 * i)))
    emu.state.logs_record_limit = 5  # the service's own limit: a PartialError, not an HTTP error
    summary = _collector(store, emu, max_rows=4, window=dt.timedelta(hours=24)).collect(
        DAY1, DAY3, sources=["apim"]
    )
    assert summary.ok, summary.errors
    assert len(_events(store)) == 12
    asked = [q for q in emu.state.log_queries if q["query"] == "apim_requests"]
    assert len(asked) > 2  # the day was asked in smaller windows


def test_a_workspace_the_identity_cannot_read_names_the_role_and_the_others_still_run(
    store: Store, emu: LogsEmulator
) -> None:
    emu.state.add_log_rows(WS, _request("c1", dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)))
    emu.state.forbidden_scopes.add("locked-workspace")
    emu.state.add_log_rows("locked-workspace", [])
    PriceStore(store).save(gpt4o_prices(), now=NOW)
    logs = LogSources(emu.client(), ("locked-workspace", WS), apim_map=ApimMap([HR]))
    summary = Collector(store, logs=logs, clock=lambda: NOW).collect(DAY1, DAY3, sources=["apim"])
    assert not summary.ok
    errors = summary.errors
    assert len(errors) == 2  # its two queries; the readable workspace's steps succeeded
    assert all("locked-workspace" in e and "'Log Analytics Reader' role" in e for e in errors)
    assert [e["event_id"] for e in _events(store)] == ["apim-c1"]


def test_genai_dependencies_map_like_otlp_spans_and_outcome_events_close_tasks(
    store: Store, emu: LogsEmulator
) -> None:
    t = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)
    props = {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": "az.ai.openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o-2024-11-20",
        "gen_ai.usage.input_tokens": "1200",
        "gen_ai.usage.output_tokens": "300",
        "aifinops.task_id": "T-9",
        "aifinops.deployment_type": "global_standard",
    }
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    emu.state.add_log_rows(
        WS,
        [
            app_dependency(t, trace_id=trace, span_id="00f067aa0ba902b7", properties=props, role="hr-bot"),
            app_dependency(
                t,
                trace_id=trace,
                span_id="00f067aa0ba902b8",
                properties={**props, "gen_ai.usage.input_tokens": "-3"},
                role="hr-bot",
            ),
            app_event(t, name="TaskCompleted", properties={"task_id": "T-9", "outcome": "success"}),
            app_event(t, name="TaskCompleted", properties={"outcome": "success"}),
            app_event(t, name="PageViewed", properties={"task_id": "T-9", "outcome": "failed"}),
        ],
    )
    summary = _collector(store, emu).collect(DAY1, DAY3, sources=["appinsights"])
    assert summary.ok, summary.errors
    (event,) = _events(store, "appinsights")
    assert event["event_id"] == f"otel-{trace}-00f067aa0ba902b7"  # the id /v1/traces gives the same span
    assert (event["task_id"], event["app"], event["input_tokens"], event["output_tokens"]) == (
        "T-9",
        "hr-bot",
        1200,
        300,
    )
    issues = " | ".join(i for o in summary.outcomes for i in o.issues)
    assert "rejected: gen_ai.usage.input_tokens must be a whole number ≥ 0" in issues
    assert "without the task id property 'task_id'" in issues
    with store.reader() as conn:
        outcomes = conn.execute(sa.select(task_outcomes.c.task_id, task_outcomes.c.outcome)).all()
    assert [tuple(o) for o in outcomes] == [("T-9", "succeeded")]


def test_telemetry_volume_per_table_and_sending_resource(store: Store, emu: LogsEmulator) -> None:
    t = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)
    workspace = "/subscriptions/s1/resourcegroups/rg/providers/microsoft.operationalinsights/workspaces/law"
    emu.state.add_log_rows(WS, _request("c1", t))
    emu.state.add_log_rows(
        WS,
        [
            usage_row(t, data_type="ApiManagementGatewayLlmLog", megabytes=120.0, workspace=workspace),
            usage_row(t, data_type="AppDependencies", megabytes=30.0, workspace=workspace),
        ],
    )
    summary = _collector(store, emu).collect(DAY1, DAY3, sources=["loganalytics"])
    assert summary.ok, summary.errors
    samples = read_metric_samples(store, t, NOW)
    usage = {s.dimensions["data_type"]: s.value for s in samples if s.metric == "Usage.BillableMB"}
    assert usage == {"ApiManagementGatewayLlmLog": 120, "AppDependencies": 30}
    billed = {
        (s.dimensions["data_type"], s.dimensions["resource"])
        for s in samples
        if s.metric == "Usage.BilledBytes"
    }
    assert billed == {("ApiManagementGatewayLlmLog", APIM), ("ApiManagementGatewayLogs", APIM)}


def test_a_backfill_of_days_before_the_watermark_reads_them_whole(store: Store, emu: LogsEmulator) -> None:
    emu.state.add_log_rows(WS, _request("today", dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)))
    collector = _collector(store, emu)
    assert collector.collect(DAY1, DAY3, sources=["apim"]).ok
    emu.state.add_log_rows(WS, _request("last-month", dt.datetime(2026, 10, 20, 8, 0, tzinfo=dt.UTC)))
    assert collector.collect(dt.date(2026, 10, 1), DAY1, sources=["apim"]).ok
    assert [e["event_id"] for e in _events(store)] == ["apim-last-month", "apim-today"]
    assert {w.query: w.watermark for w in read_watermarks(store)}["apim_requests"] == NOW  # never moves back


def test_apps_that_report_their_own_usage_are_compared_not_counted_twice(
    store: Store, emu: LogsEmulator
) -> None:
    emu.state.add_log_rows(WS, _request("c1", dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)))
    PriceStore(store).save(gpt4o_prices(), now=NOW)
    self_reporting = ApimRoute(subscription="sub-hr", dimensions={"app": "hr-assistant"}, record_events=False)
    logs = LogSources(emu.client(), (WS,), apim_map=ApimMap([self_reporting]))
    assert Collector(store, logs=logs, clock=lambda: NOW).collect(DAY1, DAY3, sources=["apim"]).ok
    assert _events(store) == []
    samples = read_metric_samples(store, dt.datetime(2026, 11, 2, 10, tzinfo=dt.UTC), NOW)
    assert {s.metric: s.value for s in samples}["ApiManagementGatewayLlmLog.PromptTokens"] == 1000


def test_a_workspace_based_application_insights_resource_is_queried_resource_centric(
    store: Store, emu: LogsEmulator
) -> None:
    appi = "/subscriptions/s1/resourceGroups/rg/providers/microsoft.insights/components/appi-hr"
    t = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)
    emu.state.add_log_rows(
        WS,
        [
            app_event(
                t,
                name="TaskCompleted",
                properties={"task_id": "mine", "outcome": "ok"},
                _ResourceId=appi.lower(),
            ),
            app_event(
                t, name="TaskCompleted", properties={"task_id": "other", "outcome": "ok"}, _ResourceId="/x"
            ),
        ],
    )
    logs = LogSources(emu.client(), (appi,))
    summary = Collector(store, logs=logs, clock=lambda: NOW).collect(DAY1, DAY3, sources=["appinsights"])
    assert summary.ok, summary.errors
    with store.reader() as conn:
        assert conn.execute(sa.select(task_outcomes.c.task_id)).scalars().all() == ["mine"]
    assert {q["target"] for q in emu.state.log_queries} == {appi}
