"""Reading a period's usage as the estate sees it: who calls which deployment on which account, and what
each use case's calls were priced at per meter (for its cost drivers), from the daily meter rollup."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aifinops.store.meter_queries import meter_rows
from aifinops.store.store import Store

__all__ = ["METER_KEYS", "PATH_KEYS", "meter_usage", "usage_paths"]

#: What a usage path row is keyed by.
PATH_KEYS = (
    "app",
    "use_case",
    "deployment",
    "model",
    "deployment_type",
    "region",
    "resource_id",
    "cost_center",
    "team",
    "currency",
)
#: What a meter usage row is keyed by (``retry``: attempt > 1; ``extra_step``: a first attempt of step > 1).
METER_KEYS = (
    "use_case",
    "resource_id",
    "kind",
    "retry",
    "extra_step",
    "input_price_id",
    "cached_input_price_id",
    "output_price_id",
    "unit_price_id",
    "cache_write_price_id",
    "currency",
)
_SUMS = (
    "events",
    "unpriced_events",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "quantity_nanos",
    "cost_nanos",
    "cache_write_tokens",
)


def usage_paths(store: Store, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """Per app, use case, deployment, model, account and owner dimensions of the UTC days ``[start, end)``:
    events, tokens and estimated cost (``currency`` None for unpriced events)."""
    return meter_rows(store, start, end, PATH_KEYS, sums=_SUMS)


def meter_usage(store: Store, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """Per use case, account, kind, retry or not, extra step or not and the prices each meter was charged at:
    tokens, quantity and estimated cost of the UTC days ``[start, end)``."""
    return meter_rows(store, start, end, METER_KEYS, sums=_SUMS)
