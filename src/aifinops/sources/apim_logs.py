"""API Management's view of gen-AI traffic: LLM log requests as usage events, hourly totals and token
metrics as usage samples (reference/log-analytics.md §4).

Pure: rows of :data:`~aifinops.sources.log_queries.APIM_REQUESTS` and
:data:`~aifinops.sources.log_queries.APIM_TOKEN_METRICS` in, domain values out. A request is mapped to
allocation dimensions by its API Management subscription, product and API through a configured table; a
request no row maps is kept, marked ``apim.unmapped``, and counted.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from aifinops.domain import DIMENSIONS, DeploymentType, EventKind, EventStatus, MetricSample, UsageEvent
from aifinops.errors import ConfigError
from aifinops.sources.log_rows import RowIssues, cell_text, dynamic, header, utc, whole_number
from aifinops.sources.openai_wire import split_model, status_of_error

__all__ = [
    "LLM_LOG_METRICS",
    "ApimMap",
    "ApimRequest",
    "ApimRoute",
    "ApimTotals",
    "apim_requests",
    "token_metric_samples",
]

#: The hourly totals of LLM-log requests kept as usage samples: our sum → sample metric name.
LLM_LOG_METRICS: Mapping[str, str] = MappingProxyType(
    {
        "input_tokens": "ApiManagementGatewayLlmLog.PromptTokens",
        "output_tokens": "ApiManagementGatewayLlmLog.CompletionTokens",
        "requests": "ApiManagementGatewayLlmLog.Requests",
    }
)
#: Headers our gateway defines (DESIGN.md §7), read from the logged request headers when present.
_HEADER_DIMENSIONS = {
    "use_case": "x-aifinops-use-case",
    "agent": "x-aifinops-agent",
    "tenant": "x-aifinops-tenant",
}
_TOKEN_METRIC_DIMENSIONS = {"subscription": "subscription id", "product": "product id", "api": "api id"}
_DEPLOYMENT_KEYS = ("deployment", "deployment name", "deploymentname", "deployment id", "model deployment")


@dataclass(frozen=True, slots=True)
class ApimRoute:
    """One row of the mapping table (patterns use ``*``)."""

    subscription: str = "*"
    product: str = "*"
    api: str = "*"
    dimensions: Mapping[str, str] = field(default_factory=dict)
    deployment_type: DeploymentType | None = None
    region: str | None = None
    record_events: bool = True

    def matches(self, subscription: str, product: str, api: str) -> bool:
        return all(
            fnmatch.fnmatchcase(value.lower(), pattern.lower())
            for value, pattern in (
                (subscription, self.subscription),
                (product, self.product),
                (api, self.api),
            )
        )


class ApimMap:
    """The API Management subscription / product / API → allocation dimensions table; first match wins."""

    def __init__(self, routes: Sequence[ApimRoute] = ()) -> None:
        self.routes = tuple(routes)

    @classmethod
    def from_settings(cls, rows: Iterable[Any]) -> ApimMap:
        """From ``logs.apim_map`` rows (objects with the :class:`ApimRoute` fields)."""
        routes = []
        for i, row in enumerate(rows):
            kind = None
            if row.deployment_type:
                try:
                    kind = DeploymentType(row.deployment_type)
                except ValueError as exc:
                    raise ConfigError(
                        f"AIFINOPS_AZURE__LOGS__APIM_MAP__{i}__DEPLOYMENT_TYPE={row.deployment_type!r}: "
                        f"choose from {[d.value for d in DeploymentType]}"
                    ) from exc
            routes.append(
                ApimRoute(
                    row.subscription,
                    row.product,
                    row.api,
                    MappingProxyType(dict(row.dimensions)),
                    kind,
                    row.region,
                    row.record_events,
                )
            )
        return cls(routes)

    def match(self, subscription: str | None, product: str | None, api: str | None) -> ApimRoute | None:
        return next((r for r in self.routes if r.matches(subscription or "", product or "", api or "")), None)


@dataclass(frozen=True, slots=True)
class ApimRequest:
    """One request API Management logged: the usage event it makes, and whether it is recorded as an event
    (False: its apps report their own usage; it is only compared)."""

    event: UsageEvent
    record: bool
    subscription: str | None
    unmapped: bool


def apim_requests(
    rows: Iterable[Mapping[str, Any]],
    mapping: ApimMap,
    *,
    task_headers: Sequence[str] = ("x-aifinops-task-id",),
    issues: RowIssues,
) -> list[ApimRequest]:
    """One :class:`ApimRequest` per row (one per ``CorrelationId``); unusable rows are counted in ``issues``
    (missing or negative tokens, no time, no model or deployment) and left out."""
    out = []
    for row in rows:
        correlation = cell_text(row.get("CorrelationId"))
        sample = f"CorrelationId={correlation}"
        ts = utc(row.get("TimeGenerated"))
        if correlation is None or ts is None:
            issues.add("without CorrelationId or TimeGenerated", f"{dict(row)}"[:160])
            continue
        try:
            prompt, completion = _tokens(row)
        except ValueError as exc:
            issues.add(str(exc), f"{sample} {exc.args[0] if exc.args else ''}")
            continue
        if cell_text(row.get("DeploymentName")) is None and cell_text(row.get("ModelName")) is None:
            issues.add("with neither ModelName nor DeploymentName", sample)
            continue
        out.append(_request(row, correlation, ts, prompt, completion, mapping, tuple(task_headers)))
    return out


def _tokens(row: Mapping[str, Any]) -> tuple[int, int]:
    try:
        prompt = whole_number(row.get("PromptTokens"))
        completion = whole_number(row.get("CompletionTokens"))
    except ValueError as exc:
        raise ValueError("with token counts that are not whole numbers") from exc
    if prompt is None or completion is None:
        raise ValueError("with missing PromptTokens or CompletionTokens")
    if prompt < 0 or completion < 0:
        raise ValueError("with negative tokens")
    return prompt, completion


def _request(
    row: Mapping[str, Any],
    correlation: str,
    ts: dt.datetime,
    prompt: int,
    completion: int,
    mapping: ApimMap,
    task_headers: tuple[str, ...],
) -> ApimRequest:
    subscription = cell_text(row.get("ApimSubscriptionId"))
    product, api = cell_text(row.get("ProductId")), cell_text(row.get("ApiId"))
    route = mapping.match(subscription, product, api)
    headers = dynamic(row.get("RequestHeaders"))
    dims = {d: v for d in DIMENSIONS if (v := (route.dimensions.get(d) if route else None))}
    for name, key in _HEADER_DIMENSIONS.items():  # the mapping wins over what a caller sent
        if name not in dims and (value := header(headers, (key,))):
            dims[name] = value[:128]
    model, version = split_model(cell_text(row.get("ModelName")))
    deployment = cell_text(row.get("DeploymentName"))
    dims.setdefault("deployment", deployment or "")
    dims.setdefault("model", model or "")
    attributes = _attributes(row, subscription, product, api, unmapped=route is None)
    event = UsageEvent(
        event_id=f"apim-{correlation}"[:128],
        ts=ts,
        task_id=(header(headers, task_headers) or "")[:128] or None,
        attempt=_attempt(headers),
        app=dims.get("app") or None,
        use_case=dims.get("use_case") or None,
        agent=dims.get("agent") or None,
        tenant=dims.get("tenant") or None,
        user_group=dims.get("user_group") or None,
        cost_center=dims.get("cost_center") or None,
        team=dims.get("team") or None,
        environment=dims.get("environment") or None,
        deployment=dims.get("deployment") or None,
        model=dims.get("model") or None,
        attributes=MappingProxyType(attributes),
        model_version=version,
        deployment_type=route.deployment_type if route else None,
        region=(route.region if route and route.region else cell_text(row.get("Region"))),
        input_tokens=prompt,
        output_tokens=completion,
        requests=1,
        kind=_kind(cell_text(row.get("OperationName")) or ""),
        status=_status(row),
        latency_ms=_int_or_none(row.get("TotalTime")),
    )
    return ApimRequest(event, route.record_events if route else True, subscription, route is None)


def _attributes(
    row: Mapping[str, Any], subscription: str | None, product: str | None, api: str | None, *, unmapped: bool
) -> dict[str, str]:
    values = {
        "apim.subscription": subscription,
        "apim.product": product,
        "apim.api": api,
        "apim.backend": cell_text(row.get("BackendId")),
        "apim.caller": cell_text(row.get("UserId")) or cell_text(row.get("CallerIpAddress")),
        "apim.response_code": cell_text(row.get("ResponseCode")),
        "apim.request_id": cell_text(row.get("RequestId")),
        "apim.stream": "true" if _flag(row.get("IsStreamCompletion")) else None,
        "apim.unmapped": "true" if unmapped else None,
    }
    return {k: v[:256] for k, v in values.items() if v}


def _flag(value: Any) -> int:
    try:
        return whole_number(value) or 0
    except ValueError:
        return 0


def _int_or_none(value: Any) -> int | None:
    try:
        number = whole_number(value)
    except ValueError:
        return None
    return number if number is not None and number >= 0 else None


def _attempt(headers: Mapping[str, Any]) -> int:
    raw = header(headers, ("x-aifinops-attempt",))
    return int(raw) if raw and raw.isdigit() and int(raw) >= 1 else 1


def _kind(operation: str) -> EventKind:
    """The call's kind from the operation API Management logged (``ChatCompletions_Create``, …)."""
    op = operation.lower()
    if "embedding" in op:
        return EventKind.EMBEDDING
    if "response" in op:
        return EventKind.RESPONSES
    if "completion" in op and "chat" not in op:
        return EventKind.COMPLETION
    return EventKind.CHAT


def _status(row: Mapping[str, Any]) -> EventStatus:
    for column in ("ResponseCode", "BackendResponseCode"):
        code = _int_or_none(row.get(column))
        if code:
            return EventStatus.OK if code < 400 else status_of_error(code)
    return EventStatus.ERROR if row.get("IsRequestSuccess") is False else EventStatus.OK


@dataclass(slots=True)
class ApimTotals:
    """Hourly totals of the requests API Management logged, per deployment, model and subscription, product
    and API — the comparison figures (``/api/token-usage?source=apim``), whether or not recorded as events."""

    resource_id: str
    sums: dict[tuple[Any, ...], dict[str, int]] = field(default_factory=lambda: defaultdict(dict))

    def add(self, requests: Iterable[ApimRequest]) -> None:
        for r in requests:
            e = r.event
            hour = e.ts.replace(minute=0, second=0, microsecond=0)
            a = e.attributes
            key = (
                hour,
                e.deployment,
                e.model,
                a.get("apim.subscription"),
                a.get("apim.product"),
                a.get("apim.api"),
            )
            slot = self.sums[key]
            for name, value in (("input_tokens", e.input_tokens), ("output_tokens", e.output_tokens)):
                slot[name] = slot.get(name, 0) + value
            slot["requests"] = slot.get("requests", 0) + 1

    def samples(self) -> list[MetricSample]:
        out = []
        for (hour, deployment, model, subscription, product, api), slot in sorted(
            self.sums.items(), key=lambda kv: tuple(str(k) for k in kv[0])
        ):
            dims = {"subscription": subscription, "product": product, "api": api}
            for name, metric in LLM_LOG_METRICS.items():
                out.append(
                    MetricSample(
                        resource_id=self.resource_id.lower(),
                        metric=metric,
                        ts=hour,
                        value=Decimal(slot.get(name, 0)),
                        aggregation="total",
                        unit="Count",
                        interval="PT1H",
                        deployment=deployment,
                        model=model,
                        dimensions=MappingProxyType({k: v for k, v in dims.items() if v}),
                    )
                )
        return out


def token_metric_samples(
    rows: Iterable[Mapping[str, Any]], mapping: ApimMap, *, resource_id: str, issues: RowIssues
) -> list[MetricSample]:
    """Hourly sums of the emitted token metrics, their dimensions kept and the allocation dimensions added:
    those the mapping gives for the ``Subscription ID`` / ``Product ID`` / ``API ID`` dimensions, and any
    custom dimension named like an allocation dimension."""
    out = []
    for row in rows:
        ts, name = utc(row.get("TimeGenerated")), cell_text(row.get("Name"))
        try:
            value = Decimal(str(row.get("Sum")))
        except ArithmeticError:
            value = Decimal(-1)
        if ts is None or name is None or not value.is_finite() or value < 0:
            issues.add("without time, name or a sum ≥ 0", f"{name} {row.get('Sum')!r}")
            continue
        dims = {str(k): str(v) for k, v in dynamic(row.get("Dimensions")).items() if v is not None}
        lowered = {k.lower(): v for k, v in dims.items()}
        route = mapping.match(*(lowered.get(key) for key in _TOKEN_METRIC_DIMENSIONS.values()))
        allocation = {d: v for d in DIMENSIONS if (v := lowered.get(d))}
        allocation.update(route.dimensions if route else {"apim.unmapped": "true"})
        if source := cell_text(row.get("_ResourceId")):
            dims["_ResourceId"] = source
        out.append(
            MetricSample(
                resource_id=resource_id.lower(),
                metric=name,
                ts=ts,
                value=value,
                aggregation="total",
                unit="Count",
                interval="PT1H",
                deployment=next((lowered[k] for k in _DEPLOYMENT_KEYS if lowered.get(k)), None),
                model=lowered.get("model") or lowered.get("model name") or None,
                dimensions=MappingProxyType({**dims, **allocation}),
            )
        )
    return out
