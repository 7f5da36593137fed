"""Allocation API: rules (GET/POST /api/allocation/rules), runs, the showback table and reconciliation."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from starlette.concurrency import run_in_threadpool

from aifinops.api.deps import AdminCaller, Caller, ReadCaller, SettingsDep, StoreDep
from aifinops.api.problems import ProblemError
from aifinops.api.serializers import unavailable_json
from aifinops.domain import DIMENSIONS, Basis, from_nanos, plain
from aifinops.engine.allocation_rules import parse_rules, rule_to_mapping
from aifinops.engine.kpis import TaskKpi, task_kpis
from aifinops.engine.reconciliation import DriftRow, reconcile
from aifinops.engine.showback import build_showback
from aifinops.errors import ValidationError
from aifinops.jobs.allocate import allocate_period, gc_paused_for_bulk_objects
from aifinops.reports import showback_document
from aifinops.store import Store
from aifinops.store.allocation_queries import read_allocation, read_rules
from aifinops.store.allocations import AllocationStore
from aifinops.store.cost_queries import read_cost_records
from aifinops.store.kpi_input_queries import read_kpi_inputs
from aifinops.store.reconciliation_queries import estimates

__all__ = ["parse_period", "router"]

router = APIRouter(tags=["allocation"])


def _invalid(field: str, reason: str) -> ProblemError:
    return ProblemError(
        422, "Invalid request", f"{field}: {reason}", errors=[{"field": field, "reason": reason}]
    )


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
                raise _invalid("end", f"must be after start {start}, got {end}")
            return lo, hi
    except ValueError as exc:
        raise _invalid(
            "period" if period else "start", f"dates are YYYY-MM-DD and periods YYYY-MM ({exc})"
        ) from exc
    raise _invalid("period", "give period=YYYY-MM or both start and end (YYYY-MM-DD, end exclusive)")


def _basis(value: str) -> Basis:
    if value not in (Basis.ACTUAL.value, Basis.AMORTIZED.value):
        raise _invalid("basis", f"must be actual or amortized, got {value!r}")
    return Basis(value)


def _dims(value: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else default


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


# Routes declare the period after the caller, so that a bad key is refused before the period is parsed.
PeriodQuery = Annotated[_Days, Depends(_period_query)]
OrgCaller = Annotated[Caller, Depends(_org_wide)]


@router.get("/api/allocation/rules", summary="The allocation rules, in the order they apply")
async def get_rules(store: StoreDep, caller: ReadCaller) -> dict[str, Any]:
    rules = await run_in_threadpool(read_rules, store)
    return {"rules": [rule_to_mapping(r) for r in rules]}


@router.post(
    "/api/allocation/rules", status_code=201, summary="Add an allocation rule (last, or at position)"
)
async def post_rule(
    store: StoreDep, caller: AdminCaller, rule: dict[str, Any] = Body(...), position: int | None = None
) -> dict[str, Any]:
    try:
        (parsed,) = parse_rules([rule])
    except ValidationError as exc:
        raise _invalid(exc.field or "rule", str(exc)) from exc
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


@router.post("/api/allocation/run", summary="Allocate a period's cost records (replaces its stored result)")
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


@router.get("/api/allocation", summary="Allocated cost by owner, with idle and unallocated lines and drivers")
async def get_allocation(
    store: StoreDep,
    caller: OrgCaller,
    days: PeriodQuery,
    basis: str = "actual",
    by: str | None = None,
) -> dict[str, Any]:
    return await run_in_threadpool(_showback, store, days, _basis(basis), by)


def _showback(store: Store, days: _Days, chosen: Basis, by: str | None) -> dict[str, Any]:
    lo, hi = days.start, days.end
    with gc_paused_for_bulk_objects():  # a month is a million lines
        result = read_allocation(store, lo, hi, basis=chosen)
        if not result.dimensions:
            raise ProblemError(
                404,
                "Not allocated",
                f"no allocation of {lo}..{hi} on {chosen.value}; POST /api/allocation/run or run "
                f"`aifinops report showback --period {lo:%Y-%m} --basis {chosen.value}`",
            )
        try:
            dims = _dims(by, result.dimensions)
            showback = build_showback(result, by=dims, period=days.label, basis=chosen)
        except ValueError as exc:
            raise _invalid("by", str(exc)) from exc
    return showback_document(showback)


def _drift_json(row: DriftRow) -> dict[str, Any]:
    pct = row.drift_pct
    return {
        "day": row.day.isoformat(),
        "resource_id": row.resource_id,
        "meter": row.meter,
        "currency": row.currency,
        "estimated": plain(from_nanos(row.estimated_nanos)),
        "actual": plain(from_nanos(row.actual_nanos)),
        "drift": plain(from_nanos(row.drift_nanos)),
        "drift_pct": None if pct is None else str(pct),
        "deployments": list(row.deployments),
        "status": row.status.value,
    }


def _reconcile(
    store: Store, lo: dt.date, hi: dt.date, basis: Basis, as_of: dt.date, tolerance: Decimal
) -> dict[str, Any]:
    actuals = list(read_cost_records(store, lo, hi, basis=basis))
    result = reconcile(estimates(store, lo, hi), actuals, as_of=as_of, drift_tolerance=tolerance)
    return {
        "start": lo.isoformat(),
        "end": hi.isoformat(),
        "basis": basis.value,
        "as_of": as_of.isoformat(),
        "resources": [_drift_json(r) for r in result.resources],
        "meters": [_drift_json(r) for r in result.rows],
        "prices": [
            {
                "meter": p.meter,
                "currency": p.currency,
                "unit_size": p.unit_size,
                "effective_price": plain(p.effective_price),
                "book_price": None if p.book_price is None else plain(p.book_price),
                "mismatch": p.mismatch,
            }
            for p in result.prices
        ],
    }


@router.get(
    "/api/reconciliation", summary="Estimated vs billed cost per resource, meter and day; price checks"
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
        raise _invalid("as_of" if as_of else "tolerance", f"not a date / number: {exc}") from exc
    return await run_in_threadpool(_reconcile, store, lo, hi, _basis(basis), when, limit)


def _kpi_json(kpi: TaskKpi, by: tuple[str, ...]) -> dict[str, Any]:
    def ratio(value: Decimal | None) -> str | None:
        return None if value is None else plain(value)

    return {
        **dict(zip(by, kpi.group, strict=True)),
        "tasks": kpi.tasks,
        "by_outcome": dict(kpi.by_outcome),
        "success_rate": ratio(kpi.success_rate),
        "tokens_per_task": str(kpi.tokens_per_task),
        "input_tokens_per_task": str(kpi.input_tokens_per_task),
        "output_tokens_per_task": str(kpi.output_tokens_per_task),
        "steps_per_task": str(kpi.steps_per_task),
        "retries_per_task": str(kpi.retries_per_task),
        "unpriced_events": kpi.unpriced_events,
        "costs": [
            {
                "basis": c.basis.value,
                "currency": c.currency,
                "cost": plain(from_nanos(c.cost_nanos)),
                "cost_per_successful_task": None
                if c.per_successful_task is None
                else format(c.per_successful_task.normalize(), "f"),
                "failed_and_abandoned": plain(from_nanos(c.failed_and_abandoned_nanos)),
                "value_per_cost": ratio(c.value_per_cost),
            }
            for c in kpi.costs
        ],
    }


def _kpis(store: Store, lo: dt.date, hi: dt.date, by: tuple[str, ...]) -> dict[str, Any]:
    # The same reader and engine as /api/kpis; tasks are those that started on the billing days (UTC).
    inputs = read_kpi_inputs(
        store,
        start=dt.datetime.combine(lo, dt.time(), tzinfo=dt.UTC),
        end=dt.datetime.combine(hi, dt.time(), tzinfo=dt.UTC),
        days=(lo, hi),
        by=by,
    )
    return {
        "start": lo.isoformat(),
        "end": hi.isoformat(),
        "by": list(by),
        "bases": [b.value for b in inputs.bases],
        "notes": unavailable_json(inputs.unavailable),
        "groups": [_kpi_json(k, by) for k in task_kpis(inputs.tasks, inputs.allocated)],
    }


@router.get(
    "/api/allocation/kpis", summary="Cost per successful task: estimated and fully loaded (allocated)"
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
        raise _invalid("by", f"unknown dimension(s) {unknown}; choose from {list(DIMENSIONS)}")
    return await run_in_threadpool(_kpis, store, lo, hi, dims)
