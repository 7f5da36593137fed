"""``/api/token-usage?source=monitor``: what Azure Monitor measured beside what apps reported."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

from aifinops.engine.usage_buckets import period_start
from aifinops.store import Store
from aifinops.store.metric_sample_queries import read_metric_samples
from aifinops.store.usage_queries import UsageQuery, query_usage

__all__ = ["MonitorUsage"]

#: Monitor metric → the app-reported sum it is compared with (azure-monitor-openai.md §1.1).
_COMPARED = {"InputTokens": "input_tokens", "OutputTokens": "output_tokens", "ModelRequests": "requests"}


class MonitorUsage:
    """Monitor's per-deployment token and request totals next to the apps' own, with the gap in percent."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def __call__(self, q: UsageQuery) -> dict[str, Any]:
        zone = ZoneInfo(q.timezone)
        monitor: dict[tuple[dt.datetime, str | None], dict[str, int]] = defaultdict(
            lambda: dict.fromkeys(_COMPARED.values(), 0)
        )
        for s in read_metric_samples(self.store, q.start, q.end):
            name = _COMPARED.get(s.metric)
            if name is not None and s.aggregation.lower() == "total":
                monitor[(period_start(s.ts, q.granularity, zone), s.deployment)][name] += int(s.value)
        apps: dict[tuple[dt.datetime, str | None], dict[str, int]] = defaultdict(
            lambda: dict.fromkeys(_COMPARED.values(), 0)
        )
        grouped = UsageQuery(
            start=q.start,
            end=q.end,
            granularity=q.granularity,
            group_by=("deployment",),
            filters=q.filters,
            timezone=q.timezone,
        )
        for row in query_usage(self.store, grouped):
            slot = apps[(row.period_start, row.group["deployment"])]
            for name in _COMPARED.values():
                slot[name] += row.sums[name]
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
