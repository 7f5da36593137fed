"""Reading Log Analytics rows: outcome events, GenAI dependencies' properties, token metric dimensions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from aifinops.domain import Outcome
from aifinops.sources.apim_logs import ApimMap, ApimRoute, token_metric_samples
from aifinops.sources.appinsights_logs import OutcomeMapping, dependency_spans, outcome_events
from aifinops.sources.log_rows import RowIssues

T = dt.datetime(2026, 11, 2, 10, tzinfo=dt.UTC)


def _event(props: str, measures: str | None = None) -> dict[str, object]:
    return {
        "TimeGenerated": T,
        "Name": "Done",
        "OperationId": "op",
        "Properties": props,
        "Measurements": measures,
    }


def test_outcome_events_map_configured_properties_and_words() -> None:
    mapping = OutcomeMapping(
        "Done", {"task_id": "ticket", "outcome": "result"}, {"resolved": "succeeded", "nope": "failed"}
    )
    issues = RowIssues("appinsights")
    rows = [
        _event('{"ticket": "A", "result": "Resolved", "value": "12.5", "currency": "EUR"}'),
        _event('{"ticket": "B", "result": "escalated", "value": "7", "unit": "minutes"}'),
        _event('{"ticket": "C", "result": "nope"}', '{"value": 3}'),  # a value without currency or unit
        _event('{"ticket": "D", "result": "maybe"}'),
        _event('{"result": "resolved"}'),
    ]
    a, b, c = outcome_events(rows, mapping, issues)
    assert (a.task_id, a.outcome, a.value_amount, a.value_currency) == (
        "A",
        Outcome.SUCCEEDED,
        Decimal("12.5"),
        "EUR",
    )
    assert (b.outcome, b.value_quantity, b.value_unit) == (Outcome.ESCALATED, Decimal(7), "minutes")
    assert (c.outcome, c.value_quantity, c.value_amount) == (Outcome.FAILED, None, None)
    assert issues.total == 3 and len(issues.lines()) == 3


def test_dependency_properties_become_span_attributes_as_the_exporter_had_them() -> None:
    row = {
        "TimeGenerated": T,
        "Id": "00F067AA0BA902B7",
        "OperationId": "4BF92F3577B34DA6A3CE929D0E0E4736",
        "DurationMs": 1500.0,
        "Success": False,
        "ResultCode": "429",
        "AppRoleName": "bot",
        "Properties": '{"gen_ai.usage.input_tokens": "12", "gen_ai.response.finish_reasons": "[\\"stop\\"]", '
        '"aifinops.tenant": "007"}',
    }
    (span,) = dependency_spans([row], RowIssues("x"))
    assert (span.trace_id, span.span_id, span.end_ns - span.start_ns) == (
        row["OperationId"].lower(),
        "00f067aa0ba902b7",
        1_500_000_000,
    )
    assert span.attributes["gen_ai.usage.input_tokens"] == 12
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert span.attributes["aifinops.tenant"] == "007"  # only counts become numbers
    assert (span.status_code, span.status_message, span.resource["service.name"]) == (2, "429", "bot")


def test_token_metrics_take_allocation_dimensions_from_the_mapping_or_their_own() -> None:
    mapping = ApimMap([ApimRoute(subscription="sub-a", dimensions={"app": "a"})])
    rows = [
        {
            "TimeGenerated": T,
            "Name": "Total Tokens",
            "Sum": 10.0,
            "Dimensions": '{"Subscription ID": "sub-a"}',
        },
        {
            "TimeGenerated": T,
            "Name": "Total Tokens",
            "Sum": 5.0,
            "Dimensions": '{"Subscription ID": "x", "tenant": "t1"}',
        },
        {"TimeGenerated": T, "Name": "Total Tokens", "Sum": -1.0, "Dimensions": "{}"},
    ]
    issues = RowIssues("apim")
    a, b = token_metric_samples(rows, mapping, resource_id="WS", issues=issues)
    assert a.dimensions["app"] == "a" and a.resource_id == "ws"
    assert (b.dimensions["tenant"], b.dimensions["apim.unmapped"]) == ("t1", "true")
    assert issues.total == 1
