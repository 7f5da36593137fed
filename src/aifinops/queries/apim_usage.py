"""API Management's token counts beside the apps' own, per deployment (``/api/token-usage?source=apim``).

API Management's figures are the requests its LLM logs recorded (every mapped and unmapped subscription,
whether or not they were stored as events) and, where the token-metric policies run, the metrics they
emitted (estimates for streamed answers). The apps' own are the usage events from every source but
API Management's logs. The gap says how much API Management saw that the apps did not report.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

from aifinops.domain import Basis
from aifinops.engine.usage_buckets import period_start
from aifinops.sources.apim_logs import LLM_LOG_METRICS
from aifinops.store import Store
from aifinops.store.metric_sample_queries import read_metric_samples
from aifinops.store.source_usage_queries import usage_by_source
from aifinops.store.usage_queries import UsageQuery

__all__ = ["APIM_EVENT_SOURCE", "apim_usage_document"]

#: The usage-event source of requests read from API Management's LLM logs.
APIM_EVENT_SOURCE = "apim"
_FIGURES = ("input_tokens", "output_tokens", "requests")
_TOKEN_METRICS = {"Prompt Tokens": "input_tokens", "Completion Tokens": "output_tokens"}
_Key = tuple[dt.datetime, str | None]


def _apim_sums(store: Store, q: UsageQuery) -> tuple[dict[_Key, dict[str, int]], dict[_Key, dict[str, int]]]:
    """(LLM-log totals, emitted token metrics) per period and deployment."""
    zone = ZoneInfo(q.timezone)
    logs: dict[_Key, dict[str, int]] = defaultdict(dict)
    metrics: dict[_Key, dict[str, int]] = defaultdict(dict)
    by_metric = {m: name for name, m in LLM_LOG_METRICS.items()}
    for s in read_metric_samples(store, q.start, q.end):
        key = (period_start(s.ts, q.granularity, zone), s.deployment)
        if s.metric in by_metric:
            slot, name = logs[key], by_metric[s.metric]
        elif s.metric in _TOKEN_METRICS:
            slot, name = metrics[key], _TOKEN_METRICS[s.metric]
        else:
            continue
        slot[name] = slot.get(name, 0) + int(s.value)
    return logs, metrics


def _app_sums(store: Store, q: UsageQuery) -> dict[_Key, dict[str, int]]:
    zone = ZoneInfo(q.timezone)
    apps: dict[_Key, dict[str, int]] = defaultdict(dict)
    for u in usage_by_source(store, q):
        if u.source == APIM_EVENT_SOURCE:
            continue
        slot = apps[(period_start(u.hour, q.granularity, zone), u.deployment)]
        for name in _FIGURES:
            slot[name] = slot.get(name, 0) + getattr(u, name)
    return apps


def _gap(apim: int | None, apps: int | None) -> str | None:
    """How much API Management saw beyond what apps reported, in percent of API Management's count."""
    if not apim:
        return None
    return f"{(apim - (apps or 0)) * 100 / apim:.2f}"


def apim_usage_document(store: Store, q: UsageQuery) -> dict[str, Any]:
    """Per period and deployment: API Management's tokens and requests (LLM logs), its emitted token
    metrics, and the apps' own figures, with the gap in percent."""
    logs, metrics = _apim_sums(store, q)
    apps = _app_sums(store, q)
    items = []
    for key in sorted(set(logs) | set(metrics) | set(apps), key=lambda k: (k[0], k[1] or "")):
        item: dict[str, Any] = {"period_start": key[0].isoformat(), "deployment": key[1]}
        for name in _FIGURES:
            apim = logs[key].get(name) if key in logs else None
            item[name] = {
                "apim": apim,
                "apim_metrics": metrics[key].get(name) if key in metrics and name != "requests" else None,
                "apps": apps[key].get(name, 0) if key in apps else 0,
                "gap_percent": _gap(apim, apps[key].get(name) if key in apps else 0),
            }
        items.append(item)
    return {
        "basis": Basis.USAGE.value,
        "source": "apim",
        "start": q.start.isoformat(),
        "end": q.end.isoformat(),
        "granularity": q.granularity,
        "timezone": q.timezone,
        "items": items,
    }
