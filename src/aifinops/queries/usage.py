"""Tokens and requests by period and dimensions (``/api/token-usage``): as apps reported them, or as Azure
Monitor measured them beside the apps' own figures."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

from aifinops.domain import Basis
from aifinops.engine.usage_buckets import period_start
from aifinops.store import Store
from aifinops.store.metric_sample_queries import read_metric_samples
from aifinops.store.usage_queries import UsageQuery, UsageRow, query_usage

__all__ = ["monitor_usage_document", "token_usage_document"]

#: Monitor metric → the app-reported sum it is compared with (azure-monitor-openai.md §1.1).
_COMPARED = {"InputTokens": "input_tokens", "OutputTokens": "output_tokens", "ModelRequests": "requests"}
_Key = tuple[dt.datetime, str | None]


def _usage_item(row: UsageRow) -> dict[str, Any]:
    s = row.sums
    return {
        "period_start": row.period_start.isoformat(),
        **row.group,
        "events": s["events"],
        "requests": s["requests"],
        "input_tokens": s["input_tokens"],
        "cached_input_tokens": s["cached_input_tokens"],
        "cache_write_tokens": s["cache_write_tokens"],
        "output_tokens": s["output_tokens"],
        "reasoning_tokens": s["reasoning_tokens"],
        "total_tokens": s["input_tokens"] + s["output_tokens"],
        "retries": s["retries"],
    }


def _merge_currencies(rows: list[UsageRow], group_by: tuple[str, ...]) -> list[dict[str, Any]]:
    """Token counts do not depend on currency: fold the per-currency rows of one period and group."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = (row.period_start, *(row.group[g] for g in group_by))
        item = _usage_item(row)
        if key not in merged:
            merged[key] = item
            continue
        for name, value in item.items():
            if isinstance(value, int):
                merged[key][name] += value
    return list(merged.values())


def token_usage_document(store: Store, q: UsageQuery) -> dict[str, Any]:
    """The apps' reported tokens, requests and retries per period and group of ``q`` (basis ``usage``)."""
    return {
        "basis": Basis.USAGE.value,
        "source": "apps",
        "start": q.start.isoformat(),
        "end": q.end.isoformat(),
        "granularity": q.granularity,
        "group_by": list(q.group_by),
        "timezone": q.timezone,
        "items": _merge_currencies(query_usage(store, q), q.group_by),
    }


def _zeros() -> dict[str, int]:
    return dict.fromkeys(_COMPARED.values(), 0)


def _monitor_sums(store: Store, q: UsageQuery) -> dict[_Key, dict[str, int]]:
    zone = ZoneInfo(q.timezone)
    monitor: dict[_Key, dict[str, int]] = defaultdict(_zeros)
    for s in read_metric_samples(store, q.start, q.end):
        name = _COMPARED.get(s.metric)
        if name is not None and s.aggregation.lower() == "total":
            monitor[(period_start(s.ts, q.granularity, zone), s.deployment)][name] += int(s.value)
    return monitor


def _app_sums(store: Store, q: UsageQuery) -> dict[_Key, dict[str, int]]:
    apps: dict[_Key, dict[str, int]] = defaultdict(_zeros)
    grouped = UsageQuery(
        start=q.start,
        end=q.end,
        granularity=q.granularity,
        group_by=("deployment",),
        filters=q.filters,
        timezone=q.timezone,
    )
    for row in query_usage(store, grouped):
        slot = apps[(row.period_start, row.group["deployment"])]
        for name in _COMPARED.values():
            slot[name] += row.sums[name]
    return apps


def monitor_usage_document(store: Store, q: UsageQuery) -> dict[str, Any]:
    """Monitor's per-deployment token and request totals next to the apps' own, with the gap in percent."""
    monitor, apps = _monitor_sums(store, q), _app_sums(store, q)
    items = []
    for key in sorted(set(monitor) | set(apps), key=lambda k: (k[0], k[1] or "")):
        m, a = monitor.get(key), apps.get(key)
        item: dict[str, Any] = {"period_start": key[0].isoformat(), "deployment": key[1]}
        for name in _COMPARED.values():
            mv, av = (m or {}).get(name), (a or {}).get(name)
            item[name] = {"monitor": mv, "apps": av, "gap_percent": _gap(mv, av)}
        items.append(item)
    return {
        "basis": "usage",
        "source": "monitor",
        "start": q.start.isoformat(),
        "end": q.end.isoformat(),
        "granularity": q.granularity,
        "timezone": q.timezone,
        "items": items,
    }


def _gap(monitor: int | None, apps: int | None) -> str | None:
    """How much Monitor saw beyond what apps reported, in percent of Monitor (unreported usage > 0)."""
    if not monitor or apps is None:
        return None
    return f"{(monitor - apps) * 100 / monitor:.2f}"
