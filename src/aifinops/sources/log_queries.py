"""The KQL queries the Log Analytics sources send, each bounded in time (``{start}``/``{end}``) and rows.

Table and column names are those of the Azure Monitor table reference (reference/log-analytics.md §3–5;
the shapes relied on are listed in docs/log-analytics.md). Every query filters ``TimeGenerated`` to the
window in KQL *and* is sent with a ``timespan`` covering it (the service intersects both, §1.2), and ends
with ``take`` one row more than the caller accepts, so a truncated answer is detected and the window split.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "APIM_REQUESTS",
    "APIM_TOKEN_METRICS",
    "GENAI_DEPENDENCIES",
    "OUTCOME_EVENTS",
    "QUERIES",
    "TELEMETRY_BILLED",
    "TELEMETRY_USAGE",
    "TOKEN_METRIC_NAMES",
    "LogQuery",
    "kql_datetime",
    "kql_string",
]

#: Metric names ``azure-openai-emit-token-metric`` / ``llm-emit-token-metric`` emit (log-analytics.md §4.4).
TOKEN_METRIC_NAMES: tuple[str, ...] = ("Prompt Tokens", "Completion Tokens", "Total Tokens")
#: The tables whose billed bytes are split by the resource that sent them (telemetry cost by app).
BILLED_TABLES: tuple[str, ...] = (
    "ApiManagementGatewayLlmLog",
    "ApiManagementGatewayLogs",
    "AppDependencies",
    "AppEvents",
    "AppExceptions",
    "AppMetrics",
    "AppRequests",
    "AppTraces",
)


def kql_datetime(moment: dt.datetime) -> str:
    """A KQL datetime literal in UTC with 7 fraction digits.

    >>> kql_datetime(dt.datetime(2026, 11, 1, 12, 30, tzinfo=dt.UTC))
    'datetime(2026-11-01T12:30:00.0000000Z)'
    """
    return f"datetime({moment.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%S.%f}0Z)"


def kql_string(value: str) -> str:
    """A double-quoted KQL string literal (backslash and quote escaped).

    >>> kql_string('Task "done"')
    '"Task \\\\"done\\\\""'
    """
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, slots=True)
class LogQuery:
    """One query: its name (the watermark key), the KQL template, the columns the answer must carry, and how
    far the ``timespan`` reaches beyond the window (a join reading a wider range of a second table)."""

    name: str
    template: str
    columns: tuple[str, ...]
    pad: dt.timedelta = dt.timedelta(0)
    params: tuple[str, ...] = field(default=())

    def render(
        self, start: dt.datetime, end: dt.datetime, *, limit: int, params: Mapping[str, str] | None = None
    ) -> str:
        """The KQL for ``[start, end)`` returning at most ``limit`` rows; ``params`` fill string literals."""
        values = {k: kql_string(v) for k, v in (params or {}).items()}
        missing = [p for p in self.params if p not in values]
        if missing:
            raise ValueError(f"query {self.name} needs {missing}")
        return self.template.format(
            start=kql_datetime(start),
            end=kql_datetime(end),
            padded_start=kql_datetime(start - self.pad),
            padded_end=kql_datetime(end + self.pad),
            limit=limit,
            **values,
        )

    def timespan(self, start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """The API ``timespan``: the window, widened by ``pad`` (the service intersects it with the KQL)."""
        return start - self.pad, end + self.pad


#: Per request (``CorrelationId``): tokens counted once however many message rows the request has (a
#: message longer than 32 KB is split over rows, §4.2), joined with the gateway log for the subscription,
#: product, API, backend, caller, response code and the logged request headers. Groups holding only message
#: chunks (their header row fell in another window) are left out.
APIM_REQUESTS = LogQuery(
    "apim_requests",
    """ApiManagementGatewayLlmLog
| where TimeGenerated >= {start} and TimeGenerated < {end}
| summarize TimeGenerated = min(TimeGenerated), PromptTokens = max(PromptTokens),
    CompletionTokens = max(CompletionTokens), TotalTokens = max(TotalTokens),
    ModelName = take_anyif(ModelName, isnotempty(ModelName)),
    DeploymentName = take_anyif(DeploymentName, isnotempty(DeploymentName)),
    OperationName = take_anyif(OperationName, isnotempty(OperationName)),
    ApiVersion = take_anyif(ApiVersion, isnotempty(ApiVersion)),
    Region = take_anyif(Region, isnotempty(Region)),
    RequestId = take_anyif(RequestId, isnotempty(RequestId)),
    IsStreamCompletion = max(toint(IsStreamCompletion)), Rows = count(), LlmResourceId = take_any(_ResourceId)
    by CorrelationId
| where isnotempty(DeploymentName) or isnotempty(ModelName) or isnotnull(TotalTokens)
| join kind=leftouter (
    ApiManagementGatewayLogs
    | where TimeGenerated >= {padded_start} and TimeGenerated < {padded_end}
    | summarize arg_max(TimeGenerated, ApimSubscriptionId, ProductId, ApiId, BackendId, UserId,
        CallerIpAddress, ResponseCode, BackendResponseCode, IsRequestSuccess, TotalTime, RequestHeaders)
        by CorrelationId
  ) on CorrelationId
| project TimeGenerated, CorrelationId, RequestId, DeploymentName, ModelName, OperationName, ApiVersion,
    Region, IsStreamCompletion, PromptTokens, CompletionTokens, TotalTokens, Rows, ApimSubscriptionId,
    ProductId, ApiId, BackendId, UserId, CallerIpAddress, ResponseCode, BackendResponseCode,
    IsRequestSuccess, TotalTime, RequestHeaders, _ResourceId = LlmResourceId
| take {limit}""",
    (
        "TimeGenerated",
        "CorrelationId",
        "RequestId",
        "DeploymentName",
        "ModelName",
        "OperationName",
        "ApiVersion",
        "Region",
        "IsStreamCompletion",
        "PromptTokens",
        "CompletionTokens",
        "TotalTokens",
        "Rows",
        "ApimSubscriptionId",
        "ProductId",
        "ApiId",
        "BackendId",
        "UserId",
        "CallerIpAddress",
        "ResponseCode",
        "BackendResponseCode",
        "IsRequestSuccess",
        "TotalTime",
        "RequestHeaders",
        "_ResourceId",
    ),
    pad=dt.timedelta(hours=1),
)

#: Token metrics emitted by API Management into Application Insights, summed per hour and dimension set
#: (``Sum``, never ``ItemCount`` or row counts: the pre-aggregation interval is not documented, §4.4).
APIM_TOKEN_METRICS = LogQuery(
    "apim_token_metrics",
    """AppMetrics
| where TimeGenerated >= {start} and TimeGenerated < {end}
| where Name in ("""
    + ", ".join(kql_string(n) for n in TOKEN_METRIC_NAMES)
    + """)
| summarize Sum = sum(Sum), ItemCount = sum(ItemCount)
    by TimeGenerated = bin(TimeGenerated, 1h), Name, Dimensions = tostring(Properties), _ResourceId
| take {limit}""",
    ("TimeGenerated", "Name", "Dimensions", "_ResourceId", "Sum", "ItemCount"),
)

#: OpenTelemetry GenAI spans as the Azure Monitor exporter stores them: span attributes in ``Properties``
#: (as strings), trace id ``OperationId``, span id ``Id``, ``service.name`` as ``AppRoleName``.
GENAI_DEPENDENCIES = LogQuery(
    "genai_dependencies",
    """AppDependencies
| where TimeGenerated >= {start} and TimeGenerated < {end}
| where isnotempty(tostring(Properties["gen_ai.operation.name"]))
| project TimeGenerated, Id, OperationId, ParentId, Name, DependencyType, Target, DurationMs, Success,
    ResultCode, Properties, AppRoleName, _ResourceId
| take {limit}""",
    (
        "TimeGenerated",
        "Id",
        "OperationId",
        "ParentId",
        "Name",
        "DependencyType",
        "Target",
        "DurationMs",
        "Success",
        "ResultCode",
        "Properties",
        "AppRoleName",
        "_ResourceId",
    ),
)

#: Business outcomes the apps already log as custom events (``event`` is the configured name).
OUTCOME_EVENTS = LogQuery(
    "outcome_events",
    """AppEvents
| where TimeGenerated >= {start} and TimeGenerated < {end}
| where Name == {event}
| project TimeGenerated, Name, OperationId, Properties, Measurements, ItemCount, AppRoleName, _ResourceId
| take {limit}""",
    (
        "TimeGenerated",
        "Name",
        "OperationId",
        "Properties",
        "Measurements",
        "ItemCount",
        "AppRoleName",
        "_ResourceId",
    ),
    params=("event",),
)

#: Billable MB per table (``DataType``) and hour: what the workspace's ingestion meters bill (§5.1).
TELEMETRY_USAGE = LogQuery(
    "telemetry_usage",
    """Usage
| where TimeGenerated >= {start} and TimeGenerated < {end}
| where IsBillable == true
| summarize Quantity = sum(Quantity)
    by TimeGenerated = bin(TimeGenerated, 1h), DataType, Solution, ResourceUri
| take {limit}""",
    ("TimeGenerated", "DataType", "Solution", "ResourceUri", "Quantity"),
)

#: Billed bytes per table, hour and sending resource (an Application Insights component, an API Management
#: service): how a table's share of the bill splits between apps. ``isfuzzy`` skips tables not present.
TELEMETRY_BILLED = LogQuery(
    "telemetry_billed",
    """union isfuzzy=true withsource=DataType """
    + ", ".join(BILLED_TABLES)
    + """
| where TimeGenerated >= {start} and TimeGenerated < {end}
| where tostring(_IsBillable) =~ "true"
| summarize BilledBytes = sum(_BilledSize) by TimeGenerated = bin(TimeGenerated, 1h), DataType, _ResourceId
| take {limit}""",
    ("TimeGenerated", "DataType", "_ResourceId", "BilledBytes"),
)

#: Every query, by name.
QUERIES: Mapping[str, LogQuery] = {
    q.name: q
    for q in (
        APIM_REQUESTS,
        APIM_TOKEN_METRICS,
        GENAI_DEPENDENCIES,
        OUTCOME_EVENTS,
        TELEMETRY_USAGE,
        TELEMETRY_BILLED,
    )
}
