"""Allocation API: rules (GET/POST /api/allocation/rules), runs, the showback table and reconciliation."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from starlette.concurrency import run_in_threadpool

from aifinops.api.deps import AdminCaller, Caller, ReadCaller, SettingsDep, StoreDep
from aifinops.api.openapi import narrow_query, problems
from aifinops.api.problems import ProblemError, invalid
from aifinops.domain import DIMENSIONS, Basis
from aifinops.engine.allocation_rules import parse_rules, rule_to_mapping
from aifinops.errors import ValidationError
from aifinops.jobs.allocate import allocate_period
from aifinops.queries.allocation import allocation_document, rules_document
from aifinops.queries.kpis import allocation_kpis_document
from aifinops.queries.reconciliation import reconciliation_document
from aifinops.store import Store
from aifinops.store.allocations import AllocationStore
from aifinops.store.cost_queries import read_cost_records

__all__ = ["parse_period", "router"]

router = APIRouter(tags=["allocation"])


_MAX_DAYS = 3 * 366


def parse_period(period: str | None, start: str | None, end: str | None) -> tuple[dt.date, dt.date]:
    """``period=YYYY-MM`` or ``start``/``end`` dates (end exclusive) → the billing days ``[start, end)``."""
    try:
        if period:
            first = dt.date.fromisoformat(f"{period}-01")
            following = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
            return first, following
        if start and end:
            lo, hi = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
            if hi <= lo:
                raise invalid("end", f"must be after start {start}, got {end}")
            if (hi - lo).days > _MAX_DAYS:
                raise invalid("end", f"the range may span at most {_MAX_DAYS} days; split the query")
            return lo, hi
    except ValueError as exc:
        raise invalid(
            "period" if period else "start", f"dates are YYYY-MM-DD and periods YYYY-MM ({exc})"
        ) from exc
    raise invalid("period", "give period=YYYY-MM or both start and end (YYYY-MM-DD, end exclusive)")


def _basis(value: str) -> Basis:
    if value not in (Basis.ACTUAL.value, Basis.AMORTIZED.value):
        raise invalid("basis", f"must be actual or amortized, got {value!r}")
    return Basis(value)


def _dims(value: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip())) if value else default


@dataclass(frozen=True, slots=True)
class _Days:
    """The billing days ``[start, end)`` of a request, and the period name a report shows for them."""

    start: dt.date
    end: dt.date
    label: str


def _period_query(period: str | None = None, start: str | None = None, end: str | None = None) -> _Days:
    """The billing days named by the ``period`` or ``start``/``end`` query parameters."""
    lo, hi = parse_period(period, start, end)
    return _Days(lo, hi, period or f"{lo}..{hi}")


def _org_wide(caller: ReadCaller) -> Caller:
    """The caller, when its key sees every tenant: allocation and reconciliation span them all."""
    if caller.tenant is not None:
        raise ProblemError(
            403,
            "Organisation-wide view",
            f"this key is limited to tenant {caller.tenant!r}; allocation and reconciliation span "
            "every tenant and need a key without a tenant restriction",
        )
    return caller


#: What the billing-day routes accept: a month, or start/end dates (end exclusive).
BILLING_DAYS: dict[str, dict[str, Any]] = {
    "period": {
        "pattern": r"^\d{4}-(0[1-9]|1[0-2])$",
        "description": "a month, e.g. 2026-10; instead of start/end",
    },
    "start": {"format": "date", "description": "the first billing day, e.g. 2026-10-01"},
    "end": {"format": "date", "description": "the billing day after the last, e.g. 2026-11-01 (exclusive)"},
}
_BILLED = {"enum": [Basis.ACTUAL.value, Basis.AMORTIZED.value]}
_DIMENSION_LIST = {"pattern": "^(" + "|".join(DIMENSIONS) + ")(,(" + "|".join(DIMENSIONS) + "))*$"}

# Routes declare the period after the caller, so that a bad key is refused before the period is parsed.
PeriodQuery = Annotated[_Days, Depends(_period_query)]
OrgCaller = Annotated[Caller, Depends(_org_wide)]


@router.get("/api/allocation/rules", summary="The allocation rules, in the order they apply")
async def get_rules(store: StoreDep, caller: ReadCaller) -> dict[str, Any]:
    return await run_in_threadpool(rules_document, store)


@router.post(
    "/api/allocation/rules", status_code=201, summary="Add an allocation rule (last, or at position)"
)
async def post_rule(
    store: StoreDep, caller: AdminCaller, rule: dict[str, Any] = Body(...), position: int | None = None
) -> dict[str, Any]:
    try:
        (parsed,) = parse_rules([rule])
    except ValidationError as exc:
        raise invalid(exc.field or "rule", str(exc)) from exc
    rules = await run_in_threadpool(AllocationStore(store).add_rule, parsed, position=position)
    return {"rule": rule_to_mapping(parsed), "rules": [r.name for r in rules]}


def _run(store: Store, start: dt.date, end: dt.date, basis: Basis, dims: tuple[str, ...]) -> dict[str, Any]:
    records = read_cost_records(store, start, end, basis=basis)
    result = allocate_period(store, start, end, basis=basis, dimensions=dims, records=records)
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "basis": basis.value,
        "dimensions": list(dims),
        "records": len(result.records),
        "lines": result.line_count,
    }


@router.post(
    "/api/allocation/run",
    summary="Allocate a period's cost records (replaces its stored result)",
    openapi_extra=narrow_query(**BILLING_DAYS, basis=_BILLED, dimensions=_DIMENSION_LIST),
)
async def run_allocation(
    store: StoreDep,
    settings: SettingsDep,
    caller: AdminCaller,
    days: PeriodQuery,
    basis: str = "actual",
    dimensions: str | None = None,
) -> dict[str, Any]:
    lo, hi = days.start, days.end
    default = tuple(settings.allocation.dimensions)
    return await run_in_threadpool(_run, store, lo, hi, _basis(basis), _dims(dimensions, default))


@router.get(
    "/api/allocation",
    summary="Allocated cost by owner, with idle and unallocated lines and drivers",
    responses=problems(404),  # no stored allocation of the period
    openapi_extra=narrow_query(
        **BILLING_DAYS,
        basis=_BILLED,
        by={**_DIMENSION_LIST, "description": "the allocation dimensions to show, comma-separated"},
    ),
)
async def get_allocation(
    store: StoreDep,
    settings: SettingsDep,
    caller: OrgCaller,
    days: PeriodQuery,
    basis: str = "actual",
    by: str | None = None,
) -> dict[str, Any]:
    chosen, dims = _basis(basis), _dims(by, ()) if by else None
    unknown = [d for d in dims or () if d not in DIMENSIONS]
    if unknown:
        raise invalid("by", f"unknown dimension(s) {unknown}; choose from {list(DIMENSIONS)}")
    document = await run_in_threadpool(
        lambda: allocation_document(store, days.start, days.end, basis=chosen, by=dims, period=days.label)
    )
    # Chargeback readiness: the unallocated share a chargeback tolerates (allocation.max_unallocated_share).
    document["max_unallocated_share"] = str(settings.allocation.max_unallocated_share)
    return document


@router.get(
    "/api/reconciliation",
    summary="Estimated vs billed cost per resource, meter and day; price checks",
    openapi_extra=narrow_query(
        **BILLING_DAYS,
        basis=_BILLED,
        as_of={"format": "date", "description": "the day to judge billing lag at"},
    ),
)
async def get_reconciliation(
    store: StoreDep,
    caller: OrgCaller,
    days: PeriodQuery,
    basis: str = "actual",
    as_of: str | None = None,
    tolerance: str = "0.05",
) -> dict[str, Any]:
    lo, hi = days.start, days.end
    try:
        when = dt.date.fromisoformat(as_of) if as_of else dt.datetime.now(dt.UTC).date()
        limit = Decimal(tolerance)
    except (ValueError, ArithmeticError) as exc:
        raise invalid("as_of" if as_of else "tolerance", f"not a date / number: {exc}") from exc
    chosen = _basis(basis)
    return await run_in_threadpool(
        lambda: reconciliation_document(store, lo, hi, basis=chosen, as_of=when, tolerance=limit)
    )


@router.get(
    "/api/allocation/kpis",
    summary="Cost per successful task: estimated and fully loaded (allocated)",
    openapi_extra=narrow_query(**BILLING_DAYS, by=_DIMENSION_LIST),
)
async def get_kpis(
    store: StoreDep,
    caller: OrgCaller,
    days: PeriodQuery,
    by: str = "use_case",
) -> dict[str, Any]:
    """Cost per successful task per group of ``by`` over billing days, as ``/api/kpis`` computes it (tasks
    that started on those days in UTC); ``notes`` says why an allocated basis is missing."""
    lo, hi = days.start, days.end
    dims = _dims(by, ("use_case",))
    unknown = [d for d in dims if d not in DIMENSIONS]
    if unknown:
        raise invalid("by", f"unknown dimension(s) {unknown}; choose from {list(DIMENSIONS)}")
    return await run_in_threadpool(allocation_kpis_document, store, lo, hi, by=dims)
