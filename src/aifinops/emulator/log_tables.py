"""The Log Analytics tables the emulator serves: each table's columns and types as the Azure Monitor table
reference gives them (reference/log-analytics.md §3, §4.2, §4.3, §5.1), and row builders for fixtures.

A fixture row is a dict of column → Python value (``datetime`` aware, ``dict`` for ``dynamic``); naming a
column the table does not have raises, so fixtures cannot drift from the documented schemas.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = [
    "SCHEMAS",
    "app_dependency",
    "app_event",
    "app_metric",
    "gateway_log",
    "llm_log_rows",
    "log_row",
    "usage_row",
]

_S, _D, _DT, _R, _I, _L, _B = "string", "dynamic", "datetime", "real", "int", "long", "bool"

#: Columns every workspace-based Application Insights table has (§3).
_APP_COMMON: dict[str, str] = {
    "TimeGenerated": _DT,
    "OperationId": _S,
    "OperationName": _S,
    "ParentId": _S,
    "Properties": _D,
    **dict.fromkeys(("AppRoleName", "AppRoleInstance", "AppVersion"), _S),
    **dict.fromkeys(
        (
            "ClientBrowser",
            "ClientCity",
            "ClientCountryOrRegion",
            "ClientIP",
            "ClientModel",
            "ClientOS",
            "ClientStateOrProvince",
            "ClientType",
        ),
        _S,
    ),
    **dict.fromkeys(("IKey", "ResourceGUID", "SDKVersion", "SessionId", "SyntheticSource"), _S),
    **dict.fromkeys(("UserAccountId", "UserAuthenticatedId", "UserId"), _S),
    **dict.fromkeys(("SourceSystem", "TenantId", "Type", "_ResourceId", "_SubscriptionId"), _S),
    "_BilledSize": _R,
    "_IsBillable": _S,
}
_STANDARD: dict[str, str] = {
    **dict.fromkeys(("SourceSystem", "TenantId", "Type", "_ResourceId", "_SubscriptionId"), _S),
    "_BilledSize": _R,
    "_IsBillable": _S,
}

#: Table → column → type.
SCHEMAS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "AppDependencies": {
            **_APP_COMMON,
            **dict.fromkeys(("Id", "Name", "DependencyType", "Target", "Data", "ResultCode"), _S),
            "DurationMs": _R,
            "Success": _B,
            "ItemCount": _I,
            "Measurements": _D,
            "ReferencedItemId": _S,
            "ReferencedType": _S,
        },
        "AppTraces": {
            **_APP_COMMON,
            "Message": _S,
            "SeverityLevel": _I,
            "ItemCount": _I,
            "Measurements": _D,
            "ReferencedItemId": _S,
            "ReferencedType": _S,
        },
        "AppEvents": {**_APP_COMMON, "Name": _S, "ItemCount": _I, "Measurements": _D},
        "AppMetrics": {**_APP_COMMON, "Name": _S, "Sum": _R, "Min": _R, "Max": _R, "ItemCount": _I},
        "AppRequests": {**_APP_COMMON, "ItemCount": _I, "Measurements": _D},
        "AppExceptions": {**_APP_COMMON, "ItemCount": _I, "Measurements": _D},
        "ApiManagementGatewayLlmLog": {
            "TimeGenerated": _DT,
            **dict.fromkeys(
                ("CorrelationId", "RequestId", "DeploymentName", "ModelName", "ApiVersion", "OperationName"),
                _S,
            ),
            "Region": _S,
            "IsStreamCompletion": _B,
            **dict.fromkeys(("PromptTokens", "CompletionTokens", "TotalTokens"), _I),
            "RequestMessages": _D,
            "ResponseMessages": _D,
            "SequenceNumber": _I,
            **_STANDARD,
        },
        "ApiManagementGatewayLogs": {
            "TimeGenerated": _DT,
            "Timestamp": _DT,
            **dict.fromkeys(
                (
                    "CorrelationId",
                    "ApimSubscriptionId",
                    "ProductId",
                    "ApiId",
                    "ApiRevision",
                    "OperationId",
                    "OperationName",
                    "BackendId",
                    "BackendUrl",
                    "BackendMethod",
                    "BackendProtocol",
                    "CallerIpAddress",
                    "Method",
                    "Url",
                ),
                _S,
            ),
            "ResponseCode": _I,
            "BackendResponseCode": _I,
            "IsRequestSuccess": _B,
            **dict.fromkeys(("TotalTime", "BackendTime", "ClientTime", "CacheTime"), _L),
            "RequestSize": _I,
            "ResponseSize": _I,
            **dict.fromkeys(
                ("RequestHeaders", "ResponseHeaders", "BackendRequestHeaders", "BackendResponseHeaders"), _D
            ),
            **dict.fromkeys(("RequestBody", "ResponseBody", "BackendRequestBody", "BackendResponseBody"), _S),
            "Errors": _D,
            **dict.fromkeys(
                (
                    "LastErrorMessage",
                    "LastErrorReason",
                    "LastErrorSource",
                    "LastErrorScope",
                    "LastErrorSection",
                ),
                _S,
            ),
            "LastErrorElapsed": _L,
            **dict.fromkeys(
                (
                    "Region",
                    "UserId",
                    "WorkspaceId",
                    "Cache",
                    "Category",
                    "ClientProtocol",
                    "ClientTlsVersion",
                ),
                _S,
            ),
            "TraceRecords": _D,
            **dict.fromkeys(("IsTraceRequested", "IsTraceAllowed", "IsTraceExpired", "IsMasterTrace"), _B),
            **_STANDARD,
        },
        "Usage": {
            "TimeGenerated": _DT,
            "StartTime": _DT,
            "EndTime": _DT,
            "DataType": _S,
            "Solution": _S,
            "Quantity": _R,
            "QuantityUnit": _S,
            "IsBillable": _B,
            "MeterId": _S,
            "ResourceUri": _S,
            "_IsBillable": _S,
            "_BilledSize": _R,
            "SourceSystem": _S,
            "TenantId": _S,
            "Type": _S,
        },
    }
)


def log_row(table: str, **values: Any) -> dict[str, Any]:
    """A row of ``table``; unknown columns raise. ``Type`` is the table, ``_IsBillable`` "True" and
    ``_BilledSize`` the row's JSON size unless given (``Usage`` itself is free, §5.1)."""
    schema = SCHEMAS.get(table)
    if schema is None:
        raise ValueError(f"no emulated table {table!r}; choose from {sorted(SCHEMAS)}")
    unknown = sorted(set(values) - set(schema))
    if unknown:
        raise ValueError(f"{table} has no column(s) {unknown} (see reference/log-analytics.md)")
    row: dict[str, Any] = dict(values)
    row.setdefault("Type", table)
    row.setdefault("_IsBillable", "False" if table == "Usage" else "True")
    if "_BilledSize" not in row and table != "Usage":
        row["_BilledSize"] = float(len(json.dumps(row, default=str)))
    return row


def llm_log_rows(
    correlation_id: str,
    ts: dt.datetime,
    *,
    deployment: str,
    model: str,
    prompt_tokens: int | None,
    completion_tokens: int | None,
    resource_id: str,
    chunks: int = 1,
    stream: bool = False,
    operation: str = "ChatCompletions_Create",
    region: str = "East US 2",
) -> list[dict[str, Any]]:
    """One request's ``ApiManagementGatewayLlmLog`` rows: the row carrying model and tokens, then
    ``chunks`` message rows (a long message is split in 32 KB parts numbered by ``SequenceNumber``, §4.2)."""
    total = None if prompt_tokens is None or completion_tokens is None else prompt_tokens + completion_tokens
    head = log_row(
        "ApiManagementGatewayLlmLog",
        TimeGenerated=ts,
        CorrelationId=correlation_id,
        RequestId=f"chatcmpl-{correlation_id[:12]}",
        DeploymentName=deployment,
        ModelName=model,
        ApiVersion="2024-10-21",
        OperationName=operation,
        Region=region,
        IsStreamCompletion=stream,
        PromptTokens=prompt_tokens,
        CompletionTokens=completion_tokens,
        TotalTokens=total,
        SequenceNumber=0,
        _ResourceId=resource_id,
    )
    parts = [
        log_row(
            "ApiManagementGatewayLlmLog",
            TimeGenerated=ts,
            CorrelationId=correlation_id,
            SequenceNumber=n,
            RequestMessages=[{"role": "user", "content": f"part {n}"}] if n % 2 else None,
            ResponseMessages=None if n % 2 else [{"role": "assistant", "content": f"part {n}"}],
            _ResourceId=resource_id,
        )
        for n in range(1, chunks + 1)
    ]
    return [head, *parts]


def gateway_log(
    correlation_id: str,
    ts: dt.datetime,
    *,
    subscription: str,
    product: str = "",
    api: str = "azure-openai",
    response_code: int = 200,
    headers: Mapping[str, str] | None = None,
    resource_id: str,
    total_time_ms: int = 850,
) -> dict[str, Any]:
    """The ``ApiManagementGatewayLogs`` row of one request (headers as the diagnostic logs them)."""
    return log_row(
        "ApiManagementGatewayLogs",
        TimeGenerated=ts,
        Timestamp=ts,
        CorrelationId=correlation_id,
        ApimSubscriptionId=subscription,
        ProductId=product,
        ApiId=api,
        OperationId="ChatCompletions_Create",
        BackendId="aoai-backend",
        CallerIpAddress="10.0.0.4",
        Method="POST",
        ResponseCode=response_code,
        BackendResponseCode=response_code,
        IsRequestSuccess=response_code < 400,
        TotalTime=total_time_ms,
        RequestHeaders=dict(headers or {}),
        _ResourceId=resource_id,
    )


def app_dependency(
    ts: dt.datetime, *, trace_id: str, span_id: str, properties: Mapping[str, str], role: str, **extra: Any
) -> dict[str, Any]:
    """An ``AppDependencies`` row as the Azure Monitor OpenTelemetry exporter writes a GenAI client span."""
    system = properties.get("gen_ai.system") or properties.get("gen_ai.provider.name") or "openai"
    operation = properties.get("gen_ai.operation.name", "chat")
    values: dict[str, Any] = {
        "TimeGenerated": ts,
        "OperationId": trace_id,
        "Id": span_id,
        "Name": f"{operation} {properties.get('gen_ai.request.model', '')}".strip(),
        "DependencyType": f"GenAI | {system}",
        "Target": system,
        "DurationMs": 1200.0,
        "Success": True,
        "ResultCode": "200",
        "ItemCount": 1,
        "Properties": dict(properties),
        "AppRoleName": role,
    }
    values.update(extra)
    return log_row("AppDependencies", **values)


def app_event(ts: dt.datetime, *, name: str, properties: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """An ``AppEvents`` row (a custom event)."""
    return log_row(
        "AppEvents", TimeGenerated=ts, Name=name, Properties=dict(properties), ItemCount=1, **extra
    )


def app_metric(
    ts: dt.datetime, *, name: str, total: float, count: int, dimensions: Mapping[str, str], **extra: Any
) -> dict[str, Any]:
    """An ``AppMetrics`` row: one pre-aggregated custom metric value with its dimensions."""
    return log_row(
        "AppMetrics",
        TimeGenerated=ts,
        Name=name,
        Sum=total,
        Min=0.0,
        Max=total,
        ItemCount=count,
        Properties=dict(dimensions),
        **extra,
    )


def usage_row(
    ts: dt.datetime, *, data_type: str, megabytes: float, workspace: str, solution: str = "LogManagement"
) -> dict[str, Any]:
    """An hourly ``Usage`` row: billable megabytes ingested into one table."""
    return log_row(
        "Usage",
        TimeGenerated=ts,
        StartTime=ts,
        EndTime=ts + dt.timedelta(hours=1),
        DataType=data_type,
        Solution=solution,
        Quantity=megabytes,
        QuantityUnit="MBytes",
        IsBillable=True,
        ResourceUri=workspace,
    )
