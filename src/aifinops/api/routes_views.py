"""Read routes the dashboard's views need beside the others: the price book, a period's anomalies day by
day, and the showback as a CSV or FOCUS file. Each is a thin answer over one ``queries`` function."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from aifinops.api.deps import ReadCaller, SettingsDep, StoreDep
from aifinops.api.openapi import narrow_query, problems
from aifinops.api.problems import invalid
from aifinops.api.routes_allocation import BILLING_DAYS, OrgCaller, PeriodQuery
from aifinops.domain import DIMENSIONS, Basis
from aifinops.queries.allocation import read_showback
from aifinops.queries.anomalies import period_anomalies
from aifinops.queries.price_book import price_book_document
from aifinops.queries.reports import ReportFormat, render_focus, render_showback
from aifinops.store.allocation_queries import read_allocation

__all__ = ["router"]

router = APIRouter(tags=["views"])

_BILLED = [Basis.ACTUAL.value, Basis.AMORTIZED.value]


@router.get(
    "/api/prices",
    summary="The price book: every stored price with its source, effective dates and age",
    openapi_extra=narrow_query(model={"description": "only prices of this model"}),
)
async def prices(store: StoreDep, caller: ReadCaller, model: str | None = None) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return await run_in_threadpool(lambda: price_book_document(store, now=now, model=model))


@router.get(
    "/api/anomalies/days",
    summary="Every day of a period judged for spend anomalies, as /api/anomalies judges one day",
    openapi_extra=narrow_query(
        **BILLING_DAYS, by={"enum": list(DIMENSIONS), "description": "judge each value of this dimension"}
    ),
)
async def anomalies_by_day(
    store: StoreDep, settings: SettingsDep, caller: OrgCaller, days: PeriodQuery, by: str | None = None
) -> dict[str, Any]:
    if by is not None and by not in DIMENSIONS:
        raise invalid("by", f"{by!r} is not a dimension; choose from {list(DIMENSIONS)}")
    if (days.end - days.start).days > 92:
        raise invalid("end", "judge at most 92 days at once")
    tz, currency = settings.timezone, settings.currency
    found = await run_in_threadpool(
        lambda: period_anomalies(store, days.start, days.end, by=by, tz=tz, currency=currency)
    )
    return {"start": days.start.isoformat(), "end": days.end.isoformat(), "by": by, "anomalies": found}


@router.get(
    "/api/allocation/report",
    summary="The showback as a file: CSV by the dimensions asked, or FOCUS 1.2 CSV per allocation line",
    responses=problems(404) | {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    openapi_extra=narrow_query(
        **BILLING_DAYS,
        basis={"enum": _BILLED},
        by={"description": "the allocation dimensions to show, comma-separated (csv only)"},
        format={"enum": ["csv", "focus"], "description": "csv: the showback table; focus: FOCUS 1.2 rows"},
    ),
)
async def allocation_report(
    store: StoreDep,
    caller: OrgCaller,
    days: PeriodQuery,
    basis: str = "actual",
    by: str | None = None,
    format: str = Query("csv"),
) -> Response:
    if basis not in _BILLED:
        raise invalid("basis", f"must be actual or amortized, got {basis!r}")
    if format not in ("csv", "focus"):
        raise invalid("format", f"must be csv or focus, got {format!r}")
    dims = tuple(dict.fromkeys(d.strip() for d in by.split(",") if d.strip())) if by else None
    chosen = Basis(basis)

    def render() -> str:
        showback = read_showback(store, days.start, days.end, basis=chosen, by=dims, period=days.label)
        if format == "focus":
            result = read_allocation(store, days.start, days.end, basis=chosen)
            return render_focus(result, basis=chosen, period=(days.start, days.end))
        return render_showback(showback, ReportFormat.CSV)

    body = await run_in_threadpool(render)
    name = f"aifinops-{'focus' if format == 'focus' else 'showback'}-{days.label}-{basis}.csv".replace(
        "..", "_"
    )
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
