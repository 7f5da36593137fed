"""Azure Monitor metrics client: token and request counts per deployment and model (basis ``usage``).

Wire format: reference/azure-monitor-openai.md §2. The service rejects a whole call when one metric name is
unknown to the resource (a flat 400 body); the client then drops that metric, says so once, and asks again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from aifinops.domain import MetricSample
from aifinops.errors import SourceAuthError, SourceError, SourceFormatError, ValidationError
from aifinops.sources._http import ARM_ENDPOINT, ArmClient, RetryPolicy
from aifinops.sources.azure_auth import TokenProvider

__all__ = ["API_VERSION", "DEFAULT_METRICS", "MetricsResult", "MonitorClient", "parse_metrics_response"]

API_VERSION = "2023-10-01"
_log = logging.getLogger(__name__)

#: Metric → its natural aggregation, per resource type (reference/azure-monitor-openai.md §1).
DEFAULT_METRICS: Mapping[str, Mapping[str, str]] = {
    "microsoft.cognitiveservices/accounts": {
        "ModelRequests": "Total",
        "InputTokens": "Total",
        "OutputTokens": "Total",
        "TotalTokens": "Total",
        "ActiveTokens": "Total",
        "ProvisionedUtilization": "Average",
        "AzureOpenAIProvisionedManagedUtilizationV2": "Average",
    },
}
_AGGREGATIONS = ("average", "count", "minimum", "maximum", "total")
_UNKNOWN_METRIC = re.compile(r"metric: (?P<name>[^,]+), Valid metrics", re.IGNORECASE)
_METRICS_SUFFIX = re.compile(r"/providers/microsoft\.insights/metrics/[^/]+$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class MetricsResult:
    """The samples collected and the metrics left out, each with the reason."""

    samples: list[MetricSample] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def parse_metrics_response(
    payload: Mapping[str, Any], *, resource_id: str | None = None
) -> tuple[list[MetricSample], list[tuple[str, str]]]:
    """Samples of one Metrics List body, and the per-metric soft errors as ``(metric, reason)``.

    The response's own ``interval`` is used (the service may adjust the one asked for). Dimension names are
    matched case-insensitively; ``ModelDeploymentName``/``ModelName`` fill ``deployment``/``model``.
    """
    metrics = payload.get("value")
    if not isinstance(metrics, list):
        raise SourceFormatError(f"Monitor metrics response for {resource_id} has no 'value' array")
    interval = str(payload.get("interval") or "PT1H")
    samples: list[MetricSample] = []
    errors: list[tuple[str, str]] = []
    for position, metric in enumerate(metrics):
        name = _metric_name(metric, position, resource_id)
        code = metric.get("errorCode", "Success")
        if code not in (None, "", "Success"):
            errors.append((name, f"{code}: {metric.get('errorMessage', '')}".rstrip(": ")))
            continue
        owner = _owner(metric, resource_id)
        for series in metric.get("timeseries") or []:
            samples += _series_samples(
                series, metric=name, owner=owner, unit=str(metric.get("unit", "")), interval=interval
            )
    return samples, errors


def _metric_name(metric: Any, position: int, resource_id: str | None) -> str:
    if not isinstance(metric, Mapping):
        raise SourceFormatError(
            f"Monitor metrics response for {resource_id}: value[{position}] is not an object"
        )
    name = metric.get("name") or {}
    text = name.get("value") or name.get("localizedValue") if isinstance(name, Mapping) else name
    text = text or str(metric.get("id", "")).rsplit("/", 1)[-1]
    if not text:
        raise SourceFormatError(f"Monitor metrics response for {resource_id}: value[{position}] has no name")
    return str(text)


def _owner(metric: Mapping[str, Any], resource_id: str | None) -> str:
    metric_id = str(metric.get("id") or "")
    owner = _METRICS_SUFFIX.sub("", metric_id) if _METRICS_SUFFIX.search(metric_id) else resource_id
    if not owner:
        raise SourceFormatError("Monitor metric has no id and no resource_id was given")
    return owner.lower()


def _series_samples(
    series: Mapping[str, Any], *, metric: str, owner: str, unit: str, interval: str
) -> list[MetricSample]:
    dimensions = {
        str((m.get("name") or {}).get("value") or "").lower(): str(m.get("value") or "")
        for m in series.get("metadatavalues") or []
    }
    samples = []
    for point in series.get("data") or []:
        ts = _timestamp(point.get("timeStamp"), metric)
        for aggregation in _AGGREGATIONS:
            value = point.get(aggregation)
            if value is None:  # empty buckets may omit the aggregation
                continue
            samples.append(
                MetricSample(
                    resource_id=owner,
                    metric=metric,
                    ts=ts,
                    value=_decimal(value, metric),
                    aggregation=aggregation,
                    unit=unit,
                    interval=interval,
                    deployment=dimensions.get("modeldeploymentname") or None,
                    model=dimensions.get("modelname") or None,
                    dimensions=dimensions,
                )
            )
    return samples


def _timestamp(raw: Any, metric: str) -> dt.datetime:
    try:
        ts = dt.datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError as exc:
        raise SourceFormatError(f"Monitor metric {metric}: timeStamp {raw!r} is not ISO-8601") from exc
    return ts.astimezone(dt.UTC) if ts.tzinfo else ts.replace(tzinfo=dt.UTC)


def _decimal(value: Any, metric: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise SourceFormatError(f"Monitor metric {metric}: value {value!r} is not a number")
    return value if isinstance(value, Decimal) else Decimal(str(value))


class MonitorClient(ArmClient):
    """Reads platform metrics of one resource: ``GET {resource}/providers/Microsoft.Insights/metrics``."""

    def __init__(
        self,
        http: httpx.Client,
        token_provider: TokenProvider,
        *,
        endpoint: str = ARM_ENDPOINT,
        policy: RetryPolicy | None = None,
        metrics_by_type: Mapping[str, Mapping[str, str]] = DEFAULT_METRICS,
    ) -> None:
        super().__init__(http, token_provider, endpoint=endpoint, policy=policy)
        self._metrics_by_type = {k.lower(): v for k, v in metrics_by_type.items()}
        self._unsupported: dict[str, dict[str, str]] = {}  # resource id → metric (lower) → reason

    def fetch(
        self,
        resource_id: str,
        *,
        start: dt.datetime,
        end: dt.datetime,
        metrics: Sequence[str] | None = None,
        interval: str = "PT1H",
        aggregation: str | None = None,
        split: Sequence[str] = ("ModelDeploymentName", "ModelName"),
    ) -> MetricsResult:
        """Metric samples of ``resource_id`` over ``[start, end)``.

        ``metrics`` defaults to the list configured for the resource type; ``aggregation`` defaults to each
        metric's natural one (Total for counts, Average for utilisation).
        """
        if start.tzinfo is None or end.tzinfo is None or end <= start:
            raise ValidationError(
                f"metrics window {start}..{end} must be timezone-aware with start < end", field="start"
            )
        wanted = self._wanted(resource_id, metrics, aggregation)
        known_bad = self._unsupported.setdefault(resource_id.lower(), {})
        skipped = [(m, known_bad[m.lower()]) for m in wanted if m.lower() in known_bad]
        by_aggregation: dict[str, list[str]] = {}
        for metric, agg in wanted.items():
            if metric.lower() not in known_bad:
                by_aggregation.setdefault(agg, []).append(metric)
        samples: list[MetricSample] = []
        for agg, names in by_aggregation.items():
            got, soft = self._query_all(
                resource_id, names, known_bad, window=(start, end, interval, agg, split)
            )
            samples += got
            skipped += soft
        return MetricsResult(samples=samples, skipped=skipped)

    def _wanted(
        self, resource_id: str, metrics: Sequence[str] | None, aggregation: str | None
    ) -> dict[str, str]:
        configured = self._metrics_by_type.get(_resource_type(resource_id), {})
        if metrics is None and not configured:
            raise ValidationError(
                f"no metrics configured for resource type {_resource_type(resource_id)!r} "
                f"of {resource_id}; pass metrics=",
                field="metrics",
            )
        names = list(configured) if metrics is None else list(metrics)
        return {m: aggregation or configured.get(m, "Total") for m in names}

    def _query_all(
        self, resource_id: str, names: list[str], known_bad: dict[str, str], *, window: tuple[Any, ...]
    ) -> tuple[list[MetricSample], list[tuple[str, str]]]:
        skipped: list[tuple[str, str]] = []
        remaining = list(names)
        while remaining:
            response = self._send(resource_id, remaining, window)
            rejected = _rejected_metric(response, remaining)
            if rejected is None:
                samples, soft = self._decode(response, resource_id)
                return samples, skipped + soft
            reason = f"not supported by {_resource_type(resource_id)}: {response.json().get('message', '')}"
            _log.warning("metric %s is not available on %s; skipping it", rejected, resource_id)
            known_bad[rejected.lower()] = reason
            skipped.append((rejected, reason))
            remaining = [m for m in remaining if m.lower() != rejected.lower()]
        return [], skipped

    def _send(self, resource_id: str, names: Iterable[str], window: tuple[Any, ...]) -> httpx.Response:
        start, end, interval, aggregation, split = window
        params = {
            "api-version": API_VERSION,
            "metricnames": ",".join(names),
            "interval": interval,
            "timespan": f"{_iso(start)}/{_iso(end)}",
            "aggregation": aggregation,
        }
        if split:
            params["$filter"] = " and ".join(f"{d} eq '*'" for d in split)
        path = f"{resource_id.strip('/')}/providers/Microsoft.Insights/metrics"
        return self._send_with_retry(self._request("GET", path, params=params))

    def _decode(
        self, response: httpx.Response, resource_id: str
    ) -> tuple[list[MetricSample], list[tuple[str, str]]]:
        if response.status_code in (401, 403):
            raise SourceAuthError(
                f"Azure Monitor refused {resource_id} ({response.status_code}): "
                f"{response.text[:200]}; grant the identity the 'Monitoring Reader' role on it"
            )
        if not response.is_success:
            raise SourceError(
                f"Azure Monitor metrics for {resource_id} failed with {response.status_code}: "
                f"{response.text[:300]}"
            )
        try:
            payload = json.loads(response.content, parse_float=Decimal)
        except ValueError as exc:
            raise SourceFormatError(f"Monitor metrics response for {resource_id} is not JSON: {exc}") from exc
        return parse_metrics_response(payload, resource_id=resource_id)


def _rejected_metric(response: httpx.Response, asked: list[str]) -> str | None:
    """The metric named by the flat ``{"code":"BadRequest","message":"Failed to find metric ..."}`` body."""
    if response.status_code != 400:
        return None
    try:
        match = _UNKNOWN_METRIC.search(str(response.json().get("message", "")))
    except (ValueError, AttributeError):
        return None
    name = match.group("name").strip() if match else None
    return next((m for m in asked if name and m.lower() == name.lower()), None)


def _resource_type(resource_id: str) -> str:
    parts = resource_id.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    if "providers" not in lowered:
        return ""
    rest = lowered[lowered.index("providers") + 1 :]
    return "/".join([rest[0], *rest[1::2]]) if rest else ""


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
