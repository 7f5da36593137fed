"""Azure Monitor metrics client: parsing the real samples, and the real client against the emulator."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from aifinops.domain import MetricSample
from aifinops.emulator import EmulatorState, SyncASGITransport, create_emulator
from aifinops.errors import SourceAuthError, SourceFormatError, ValidationError
from aifinops.sources._http import RetryPolicy
from aifinops.sources.monitor import MonitorClient, parse_metrics_response
from tests.factories import EmulatorToken

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples" / "monitor-metrics"
ACCOUNT = "/subscriptions/s1/resourceGroups/rg-ai/providers/Microsoft.CognitiveServices/accounts/aoai-prod"
START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def _load(path: str) -> Any:
    return json.loads((SAMPLES / path).read_text(encoding="utf-8"), parse_float=Decimal)


@pytest.fixture
def state() -> EmulatorState:
    return EmulatorState()


@pytest.fixture
def client(state: EmulatorState) -> Iterator[MonitorClient]:
    with httpx.Client(transport=SyncASGITransport(create_emulator(state))) as http:
        yield MonitorClient(
            http, EmulatorToken(state), policy=RetryPolicy(max_attempts=2, sleep=lambda _s: None)
        )


# --- parsing the real samples ---------------------------------------------------------------------


def test_spec_example_splits_by_tier_with_the_response_interval() -> None:
    samples, errors = parse_metrics_response(
        _load("azure-rest-api-specs/GetMetric_2023-10-01.json")["responses"]["200"]["body"]
    )
    assert errors == [] and len(samples) == 2 * 5 * 5 * 3  # metrics × tiers × points × aggregations
    assert {s.interval for s in samples} == {"PT1H"}  # asked PT6H, the service adjusted it
    assert {s.resource_id for s in samples} == {
        "/subscriptions/1f3fa6d2-851c-4a91-9087-1a050f3a9c38/resourcegroups/todking/providers/"
        "microsoft.storage/storageaccounts/tkfileserv/blobservices/default"
    }
    by_tier: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for sample in samples:
        if sample.aggregation == "average":
            by_tier[(sample.metric, sample.dimensions["tier"])] += sample.value
    assert by_tier[("BlobCount", "Hot")] == 35 and by_tier[("BlobCount", "Standard")] == 10
    assert by_tier[("BlobCapacity", "Standard")] == 3107460 and by_tier[("BlobCapacity", "Hot")] == 23665
    assert {s.unit for s in samples if s.metric == "BlobCapacity"} == {"Bytes"}
    assert samples[0].ts == dt.datetime(2021, 4, 20, 9, tzinfo=dt.UTC)


def test_telegraf_bodies_without_name_value_parse_by_localized_name() -> None:
    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    empty = 0
    for body in _load("telegraf/azure_metrics_responses.json"):
        samples, errors = parse_metrics_response(body)
        assert errors == []
        empty += not samples
        for sample in samples:
            if sample.aggregation == "total":
                totals[(sample.resource_id.rsplit("/", 1)[-1], sample.metric)] += sample.value
    assert totals[("resource1", "metric1")] == Decimal("12.5") and totals[("resource1", "metric2")] == 9
    assert totals[("resource2", "metric1")] == Decimal("20.5") and totals[
        ("resource3", "metric1")
    ] == Decimal("15.5")
    assert empty == 3  # resource4's points carry no values; resource5 and resource6 have no data at all


def test_soft_metric_errors_are_reported_not_raised() -> None:
    body = {
        "interval": "PT1H",
        "value": [
            {
                "id": f"{ACCOUNT}/providers/Microsoft.Insights/metrics/ProvisionedUtilization",
                "name": {"value": "ProvisionedUtilization"},
                "unit": "Percent",
                "timeseries": [],
                "errorCode": "InvalidSamplingType",
                "errorMessage": "Total is not supported",
            }
        ],
    }
    samples, errors = parse_metrics_response(body)
    assert samples == [] and errors == [
        ("ProvisionedUtilization", "InvalidSamplingType: Total is not supported")
    ]


def test_a_body_without_value_is_a_format_error() -> None:
    with pytest.raises(SourceFormatError, match="no 'value' array"):
        parse_metrics_response({"code": "BadRequest"}, resource_id=ACCOUNT)


# --- the client against the emulator --------------------------------------------------------------


def _seed(state: EmulatorState) -> None:
    for hour in range(6):
        for deployment, model, tokens in (("gpt4o-prod", "gpt-4o", 1000), ("mini-batch", "gpt-4o-mini", 250)):
            for metric, value in (
                ("InputTokens", tokens),
                ("OutputTokens", tokens // 4),
                ("ModelRequests", 3),
            ):
                state.metric_samples.append(
                    MetricSample(
                        resource_id=ACCOUNT.lower(),
                        metric=metric,
                        ts=START + dt.timedelta(hours=hour),
                        value=Decimal(value + hour),
                        aggregation="total",
                        unit="Count",
                        deployment=deployment,
                        model=model,
                    )
                )


def test_default_metrics_come_back_per_deployment_and_model(
    client: MonitorClient, state: EmulatorState
) -> None:
    _seed(state)
    result = client.fetch(ACCOUNT, start=START, end=START + dt.timedelta(hours=6))
    assert result.skipped == []
    inputs = {(s.deployment, s.model): Decimal(0) for s in result.samples}
    for sample in result.samples:
        if sample.metric == "InputTokens":
            inputs[(sample.deployment, sample.model)] += sample.value
    assert inputs[("gpt4o-prod", "gpt-4o")] == 6 * 1000 + 15
    assert inputs[("mini-batch", "gpt-4o-mini")] == 6 * 250 + 15
    assert {s.resource_id for s in result.samples} == {ACCOUNT.lower()}
    assert state.calls["metrics"] == 2  # one call per aggregation (Total, Average)


def test_an_unsupported_metric_is_skipped_once_and_the_rest_collected(
    client: MonitorClient, state: EmulatorState, caplog: pytest.LogCaptureFixture
) -> None:
    _seed(state)
    window = {"start": START, "end": START + dt.timedelta(hours=6)}
    with caplog.at_level(logging.WARNING, logger="aifinops.sources.monitor"):
        first = client.fetch(ACCOUNT, metrics=["InputTokens", "PromptCacheHits", "ModelRequests"], **window)
        second = client.fetch(ACCOUNT, metrics=["InputTokens", "PromptCacheHits"], **window)
    assert [m for m, _ in first.skipped] == ["PromptCacheHits"] == [m for m, _ in second.skipped]
    assert "Failed to find metric configuration" in first.skipped[0][1]
    assert {s.metric for s in first.samples} == {"InputTokens", "ModelRequests"}
    assert {s.metric for s in second.samples} == {"InputTokens"}
    assert sum("PromptCacheHits" in r.getMessage() for r in caplog.records) == 1
    assert state.calls["metrics"] == 3  # rejected, re-asked without it, then never sent again


def test_forbidden_resource_names_the_monitoring_reader_role(
    client: MonitorClient, state: EmulatorState
) -> None:
    state.forbidden_scopes.add("subscriptions/s1")
    with pytest.raises(SourceAuthError, match="Monitoring Reader"):
        client.fetch(ACCOUNT, start=START, end=START + dt.timedelta(hours=1))


def test_naive_or_empty_windows_are_rejected(client: MonitorClient) -> None:
    with pytest.raises(ValidationError, match="timezone-aware"):
        client.fetch(ACCOUNT, start=dt.datetime(2026, 11, 1), end=dt.datetime(2026, 11, 2))
    with pytest.raises(ValidationError, match="pass metrics="):
        client.fetch(
            "/subscriptions/s1/providers/Microsoft.Web/sites/x", start=START, end=START + dt.timedelta(1)
        )
