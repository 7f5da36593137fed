"""GET /api/token-usage and GET /api/costs: series by period and allocation dimensions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from aifinops.api.deps import ReadCaller, SettingsDep, StoreDep
from aifinops.api.problems import ProblemError
from aifinops.api.query_params import check_known, parse_usage_query
from aifinops.domain import Basis, from_nanos, plain
from aifinops.store.usage_queries import UsageRow, query_usage

__all__ = ["router"]

router = APIRouter(tags=["usage"])

_USAGE_PARAMS = {"start", "end", "period", "granularity", "group_by", "source"}
_COST_PARAMS = {"start", "end", "period", "granularity", "group_by", "basis"}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _usage_item(row: UsageRow) -> dict[str, Any]:
    s = row.sums
    return {
        "period_start": row.period_start.isoformat(),
        **row.group,
        "events": s["events"],
        "requests": s["requests"],
        "input_tokens": s["input_tokens"],
        "cached_input_tokens": s["cached_input_tokens"],
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


@router.get("/api/token-usage", summary="Tokens and requests by period and dimensions (basis usage)")
async def token_usage(
    request: Request, settings: SettingsDep, store: StoreDep, caller: ReadCaller
) -> dict[str, Any]:
    check_known(request.query_params, _USAGE_PARAMS)
    source = request.query_params.get("source", "apps")
    if source not in ("apps", "monitor"):
        raise ProblemError(
            422,
            "Invalid request",
            "source: must be 'apps' (reported usage) or 'monitor'",
            errors=[{"field": "source", "reason": "must be apps or monitor"}],
        )
    q = parse_usage_query(request.query_params, timezone=settings.timezone, now=_now(), tenant=caller.tenant)
    if source == "monitor":
        monitor = request.app.state.monitor_usage
        return await run_in_threadpool(monitor, q)
    rows = await run_in_threadpool(query_usage, store, q)
    return {
        "basis": Basis.USAGE.value,
        "source": "apps",
        "start": q.start.isoformat(),
        "end": q.end.isoformat(),
        "granularity": q.granularity,
        "group_by": list(q.group_by),
        "timezone": q.timezone,
        "items": _merge_currencies(rows, q.group_by),
    }


@router.get("/api/costs", summary="Cost by period and dimensions, on the basis asked for")
async def costs(
    request: Request, settings: SettingsDep, store: StoreDep, caller: ReadCaller
) -> dict[str, Any]:
    check_known(request.query_params, _COST_PARAMS)
    basis = request.query_params.get("basis", Basis.ESTIMATED.value)
    if basis not in (Basis.ESTIMATED.value, Basis.ACTUAL.value, Basis.AMORTIZED.value):
        raise ProblemError(
            422,
            "Invalid request",
            f"basis: {basis!r} must be estimated, actual or amortized",
            errors=[{"field": "basis", "reason": "must be estimated, actual or amortized"}],
        )
    q = parse_usage_query(request.query_params, timezone=settings.timezone, now=_now(), tenant=caller.tenant)
    if basis != Basis.ESTIMATED.value:
        financial = getattr(request.app.state, "financial_costs", None)
        if financial is None:
            raise ProblemError(
                404,
                "No financial cost data",
                f"basis {basis} needs cost data from Azure; run `aifinops collect`",
            )
        return await run_in_threadpool(financial, q, Basis(basis), caller.tenant)
    rows = await run_in_threadpool(query_usage, store, q)
    items = []
    unpriced = 0
    for row in rows:
        unpriced += row.sums["unpriced_events"]
        if row.currency is None:
            continue
        items.append(
            {
                "period_start": row.period_start.isoformat(),
                **row.group,
                "cost": plain(from_nanos(row.sums["cost_nanos"])),
                "currency": row.currency,
                "events": row.sums["events"],
            }
        )
    return {
        "basis": basis,
        "start": q.start.isoformat(),
        "end": q.end.isoformat(),
        "granularity": q.granularity,
        "group_by": list(q.group_by),
        "timezone": q.timezone,
        "unpriced_events": unpriced,
        "totals": _totals(items),
        "items": items,
    }


def _totals(items: list[dict[str, Any]]) -> list[dict[str, str]]:
    totals: dict[str, Decimal] = {}
    for item in items:
        totals[item["currency"]] = totals.get(item["currency"], Decimal(0)) + Decimal(item["cost"])
    return [{"currency": c, "cost": plain(v)} for c, v in sorted(totals.items())]
