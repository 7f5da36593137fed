"""The tables a Power BI / Fabric model or a spreadsheet reads, one month each: allocated cost (FOCUS 1.2
columns and the 1.3 allocation columns), usage per day, tasks and cost per successful task.

Each table is a list of typed columns (documented in ``docs/export.md``) and a row iterator in column order;
:mod:`aifinops.jobs.export` writes them as Parquet or CSV. Money is an exact Decimal (nine decimals), never a
float; every money column has its currency (and basis) beside it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from functools import partial
from typing import Any

from aifinops.domain import DIMENSIONS, Basis, Outcome, from_nanos
from aifinops.engine.kpis import TaskKpi
from aifinops.queries.kpis import read_day_kpis
from aifinops.queries.periods import month_bounds
from aifinops.queries.reports import FOCUS_COLUMNS, focus_rows
from aifinops.store import Store
from aifinops.store.allocation_queries import read_allocation
from aifinops.store.export_queries import task_rows, usage_day_rows
from aifinops.store.tables import ROLLUP_SUMS

__all__ = ["TABLES", "Column", "ExportTable", "Kind", "month_tables"]


class Kind(StrEnum):
    STRING = "string"
    INT = "int64"
    DECIMAL = "decimal(38,9)"
    TIMESTAMP = "timestamp (UTC)"
    DATE = "date"


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: Kind
    description: str = ""


@dataclass(frozen=True, slots=True)
class ExportTable:
    """One table of one month: its columns and a fresh iterator over its rows on each call of ``rows``."""

    name: str
    month: str  # 2026-11
    columns: tuple[Column, ...]
    rows: Callable[[], Iterator[tuple[Any, ...]]]


_S, _I, _D, _T = Kind.STRING, Kind.INT, Kind.DECIMAL, Kind.TIMESTAMP
_FOCUS_MONEY = {"BilledCost", "EffectiveCost"}
_FOCUS_TIMES = {"BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd"}
_DIM_COLUMNS = {d: "x_Allocated" + "".join(p.title() for p in d.split("_")) for d in DIMENSIONS}

ALLOCATED_COST = (
    *(Column(c, _D if c in _FOCUS_MONEY else _T if c in _FOCUS_TIMES else _S) for c in FOCUS_COLUMNS),
    *(
        Column(name, _S, f"allocated {d} (empty: not allocated over it, or idle / unallocated)")
        for d, name in _DIM_COLUMNS.items()
    ),
)
USAGE = (
    Column("day", Kind.DATE, "UTC day"),
    *(Column(d, _S) for d in DIMENSIONS),
    Column("kind", _S),
    Column("status", _S),
    Column("currency", _S, "currency of estimated_cost; empty for rows of unpriced events"),
    *(Column(n, _I) for n in ROLLUP_SUMS if n != "cost_nanos"),
    Column("estimated_cost", _D, "usage × list/contract price (basis estimated); empty when unpriced"),
)
_TASK_COUNTS = (
    "events", "first_attempts", "max_step", "retries", "input_tokens", "cached_input_tokens",
    "output_tokens", "reasoning_tokens", "unpriced_events",
)  # fmt: skip
TASKS = (
    Column("tenant", _S),
    Column("task_id", _S),
    *(Column(d, _S) for d in DIMENSIONS if d != "tenant"),
    Column("first_ts", _T, "first event"),
    Column("last_ts", _T, "last event"),
    Column("outcome", _S, "succeeded, failed, abandoned, escalated, or open (no outcome)"),
    Column("ended_at", _T),
    *(Column(n, _I) for n in _TASK_COUNTS),
    Column("currency", _S, "empty on the row of a task's unpriced events"),
    Column("estimated_cost", _D),
)
_OUTCOMES = tuple(o.value for o in Outcome)
KPIS = (
    Column("use_case", _S),
    Column("basis", _S, "estimated, actual or amortized (fully loaded from the stored allocation)"),
    Column("currency", _S),
    Column("tasks", _I),
    *(Column(o, _I, f"tasks {o}") for o in (*_OUTCOMES, "open")),
    Column("success_rate", _D, "succeeded ÷ tasks with an outcome"),
    Column("cost", _D),
    Column("cost_per_successful_task", _D),
    Column("cost_of_failed_and_abandoned", _D),
    Column("value_per_cost", _D),
    Column("steps_per_task", _D),
    Column("retries_per_task", _D),
    Column("input_tokens_per_task", _D),
    Column("output_tokens_per_task", _D),
    Column("unpriced_events", _I),
)

#: Every table, in the order they are written.
TABLES: dict[str, tuple[Column, ...]] = {
    "allocated_cost": ALLOCATED_COST,
    "usage": USAGE,
    "tasks": TASKS,
    "kpis": KPIS,
}


def _stamp(text: str) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def _allocated_cost(store: Store, start: dt.date, end: dt.date) -> Iterator[tuple[Any, ...]]:
    converters: list[Callable[[str], Any]] = [
        (lambda v: Decimal(v) if v else None) if c in _FOCUS_MONEY else _stamp if c in _FOCUS_TIMES else str
        for c in FOCUS_COLUMNS
    ]
    for basis in (Basis.ACTUAL, Basis.AMORTIZED):
        result = read_allocation(store, start, end, basis=basis)
        at = {d: i for i, d in enumerate(result.dimensions)}
        for line, cells in focus_rows(result, basis=basis, period=(start, end)):
            dims = tuple(line.dims[at[d]] if d in at else "" for d in _DIM_COLUMNS)
            yield (*(f(v) for f, v in zip(converters, cells, strict=True)), *dims)


def _usage(store: Store, start: dt.date, end: dt.date) -> Iterator[tuple[Any, ...]]:
    counts = [n for n in ROLLUP_SUMS if n != "cost_nanos"]
    for r in usage_day_rows(store, start, end):
        cost = from_nanos(r["cost_nanos"]) if r["currency"] else None
        yield (r["day"], *(r[d] for d in DIMENSIONS), r["kind"], r["status"], r["currency"],
               *(int(r[n] or 0) for n in counts), cost)  # fmt: skip


def _tasks(store: Store, start: dt.date, end: dt.date) -> Iterator[tuple[Any, ...]]:
    lo = dt.datetime.combine(start, dt.time(), dt.UTC)
    hi = dt.datetime.combine(end, dt.time(), dt.UTC)
    for r in task_rows(store, lo, hi):
        yield (
            *(r[c.name] for c in TASKS[: len(DIMENSIONS) + 3]),
            r["outcome"] or "open",
            r["ended_at"],
            *(r[n] for n in _TASK_COUNTS),
            r["currency"],
            from_nanos(r["cost_nanos"]) if r["currency"] else None,
        )


def _kpi_rows(kpi: TaskKpi) -> Iterator[tuple[Any, ...]]:
    outcomes = dict(kpi.by_outcome)
    for c in kpi.costs:
        yield (
            kpi.group[0], c.basis.value, c.currency, kpi.tasks,
            *(outcomes.get(o, 0) for o in (*_OUTCOMES, "open")),
            kpi.success_rate, from_nanos(c.cost_nanos), c.per_successful_task,
            from_nanos(c.failed_and_abandoned_nanos), c.value_per_cost, kpi.steps_per_task,
            kpi.retries_per_task, kpi.input_tokens_per_task, kpi.output_tokens_per_task, kpi.unpriced_events,
        )  # fmt: skip


def _kpis(store: Store, start: dt.date, end: dt.date) -> Iterator[tuple[Any, ...]]:
    for kpi in read_day_kpis(store, start, end, by=("use_case",)).kpis:
        yield from _kpi_rows(kpi)


_ROWS: dict[str, Callable[[Store, dt.date, dt.date], Iterator[tuple[Any, ...]]]] = {
    "allocated_cost": _allocated_cost,
    "usage": _usage,
    "tasks": _tasks,
    "kpis": _kpis,
}


def month_tables(store: Store, month: str, *, tables: Sequence[str] = tuple(TABLES)) -> list[ExportTable]:
    """The ``tables`` of ``month`` (``YYYY-MM``; UTC days, billing days for allocated cost)."""
    start, end = month_bounds(month)
    return [
        ExportTable(name, month, TABLES[name], partial(_ROWS[name], store, start, end)) for name in tables
    ]
