"""Azure Monitor ``metrics`` for one resource (reference/azure-monitor-openai.md §2)."""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from aifinops.domain import MetricSample
from aifinops.emulator.state import EmulatorState

__all__ = ["MetricsRejected", "query_metrics"]

_INTERVALS = {
    "PT1M": 60,
    "PT5M": 300,
    "PT15M": 900,
    "PT30M": 1800,
    "PT1H": 3600,
    "PT6H": 21600,
    "PT12H": 43200,
    "P1D": 86400,
}
_FILTER_TERM = re.compile(r"^\s*(\w+)\s+eq\s+'([^']*)'\s*$", re.IGNORECASE)
_AGGREGATIONS = ("average", "count", "minimum", "maximum", "total")


class MetricsRejected(Exception):
    """A request the service answers with 400; ``body`` is sent as is (the flat body has no ``error`` key)."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body.get("message"))
        self.body = body


def query_metrics(state: EmulatorState, resource_uri: str, params: dict[str, str]) -> dict[str, Any]:
    """Answer ``GET /{resourceUri}/providers/Microsoft.Insights/metrics``."""
    resource_id = "/" + resource_uri.strip("/")
    names = [n.strip() for n in params.get("metricnames", "").split(",") if n.strip()]
    _check_supported(state, resource_id, names)
    start, end = _timespan(params.get("timespan", ""))
    interval = params.get("interval", "PT1H").upper()
    if interval not in _INTERVALS:
        raise MetricsRejected(_bad_request(f"Invalid interval '{interval}'."))
    aggregations = [a.strip().lower() for a in params.get("aggregation", "average").split(",") if a.strip()]
    if not aggregations or any(a not in _AGGREGATIONS for a in aggregations):
        raise MetricsRejected(_bad_request(f"Invalid aggregation '{params.get('aggregation')}'."))
    splits, fixed = _filter(params.get("$filter", ""))
    lowered = resource_id.lower()
    samples = [s for s in state.metric_samples if s.resource_id == lowered and start <= s.ts < end]
    value = [
        _metric(
            resource_id,
            name,
            [s for s in samples if s.metric.lower() == name.lower()],
            window=(start, end, _INTERVALS[interval]),
            aggregations=aggregations,
            split=(splits, fixed),
        )
        for name in names
    ]
    return {
        "cost": sum(len(v["timeseries"]) for v in value) * 60,
        "timespan": params.get("timespan", ""),
        "interval": interval,
        "namespace": _resource_type(resource_id).lower(),
        "resourceregion": _region(state, lowered),
        "value": value,
    }


def _bad_request(message: str) -> dict[str, Any]:
    return {"code": "BadRequest", "message": message}


def _check_supported(state: EmulatorState, resource_id: str, names: list[str]) -> None:
    if not names:
        raise MetricsRejected(_bad_request("metricnames is required."))
    rtype = _resource_type(resource_id)
    supported = state.supported_metrics.get(rtype.lower())
    if supported is None:
        return
    known = {m.lower() for m in supported}
    for name in names:
        if name.lower() not in known:
            provider, _, type_name = rtype.partition("/")
            raise MetricsRejected(
                _bad_request(
                    "Failed to find metric configuration for provider: "
                    f"{provider}, resource Type: {type_name}, "
                    f"metric: {name}, Valid metrics: {','.join(supported)}"
                )
            )


def _resource_type(resource_id: str) -> str:
    parts = resource_id.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    if "providers" not in lowered:
        return ""
    i = lowered.index("providers")
    rest = parts[i + 1 :]
    return "/".join([rest[0], *rest[1::2]]) if rest else ""


def _region(state: EmulatorState, resource_id: str) -> str:
    return next((r.location or "" for r in state.resources if r.resource_id == resource_id), "eastus")


def _timespan(raw: str) -> tuple[dt.datetime, dt.datetime]:
    try:
        first, second = raw.split("/")
        start = dt.datetime.fromisoformat(first.replace("Z", "+00:00"))
        end = dt.datetime.fromisoformat(second.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MetricsRejected(_bad_request(f"Invalid timespan '{raw}'; use start/end in ISO-8601.")) from exc
    return start, end


def _filter(raw: str) -> tuple[list[str], dict[str, str]]:
    """Dimensions to split by (``eq '*'``) and fixed dimension values (``eq 'v'``)."""
    splits: list[str] = []
    fixed: dict[str, str] = {}
    for term in filter(None, re.split(r"\s+and\s+", raw.strip(), flags=re.IGNORECASE)):
        match = _FILTER_TERM.match(term)
        if match is None:
            raise MetricsRejected(_bad_request(f"Invalid $filter term '{term}'."))
        name, value = match.group(1), match.group(2)
        if value == "*":
            splits.append(name)
        else:
            fixed[name.lower()] = value
    return splits, fixed


def _dimension(sample: MetricSample, name: str) -> str:
    lowered = name.lower()
    if lowered == "modeldeploymentname":
        return sample.deployment or ""
    if lowered == "modelname":
        return sample.model or ""
    return next((v for k, v in sample.dimensions.items() if k.lower() == lowered), "")


def _metric(
    resource_id: str,
    name: str,
    samples: list[MetricSample],
    *,
    window: tuple[dt.datetime, dt.datetime, int],
    aggregations: list[str],
    split: tuple[list[str], dict[str, str]],
) -> dict[str, Any]:
    splits, fixed = split
    chosen = [s for s in samples if all(_dimension(s, k).lower() == v.lower() for k, v in fixed.items())]
    series: dict[tuple[str, ...], list[MetricSample]] = defaultdict(list)
    for sample in chosen:
        series[tuple(_dimension(sample, d) for d in splits)].append(sample)
    if not splits:
        series.setdefault((), [])
    canonical = samples[0].metric if samples else name
    timeseries = [
        {
            **(
                {
                    "metadatavalues": [
                        {"name": {"value": d.lower(), "localizedValue": d.lower()}, "value": v}
                        for d, v in zip(splits, key, strict=True)
                    ]
                }
                if splits
                else {}
            ),
            "data": _buckets(group, window, aggregations),
        }
        for key, group in sorted(series.items())
    ]
    return {
        "id": f"{resource_id}/providers/Microsoft.Insights/metrics/{canonical}",
        "type": "Microsoft.Insights/metrics",
        "name": {"value": canonical, "localizedValue": canonical},
        "displayDescription": "",
        "unit": samples[0].unit if samples else "Count",
        "timeseries": timeseries,
        "errorCode": "Success",
    }


def _buckets(
    samples: Iterable[MetricSample], window: tuple[dt.datetime, dt.datetime, int], aggregations: list[str]
) -> list[dict[str, Any]]:
    start, end, step = window
    values: dict[int, list[Decimal]] = defaultdict(list)
    for sample in samples:
        values[int((sample.ts - start).total_seconds()) // step].append(sample.value)
    points = []
    for index in range(int((end - start).total_seconds()) // step):
        stamp = (start + dt.timedelta(seconds=index * step)).strftime("%Y-%m-%dT%H:%M:%SZ")
        point: dict[str, Any] = {"timeStamp": stamp}
        bucket = values.get(index, [])
        for aggregation in aggregations:
            if aggregation in ("total", "count"):
                point[aggregation] = float(sum(bucket)) if aggregation == "total" else float(len(bucket))
            elif bucket:  # empty buckets carry no average/min/max, as the service omits them
                point[aggregation] = float(_reduce(aggregation, bucket))
        points.append(point)
    return points


def _reduce(aggregation: str, bucket: list[Decimal]) -> Decimal:
    if aggregation == "average":
        return sum(bucket, Decimal(0)) / len(bucket)
    return max(bucket) if aggregation == "maximum" else min(bucket)
