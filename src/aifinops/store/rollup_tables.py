"""SQLAlchemy Core tables of incremental roll-ups: the watermark of rolled-up events, and the per-day task
aggregates that cost per successful task is read from.

``rollup_watermarks`` holds, per roll-up, the highest ``usage_events.id`` whose event is counted in it: the
roll-ups are exactly the events up to that id, no more, no less (see :mod:`aifinops.store.rollups`).

``task_day_kpis`` is, per UTC day of a task's first event, its dimensions (the least value over the task's
rows, ``''`` for none), its outcome (``open`` when none) and its value's currency (``''`` for none), the
number of tasks and their summed usage and value. ``task_day_costs`` is the estimated cost of the priced task
rows per day of the row's first event, dimensions, outcome and currency. ``kpi_split_tasks`` lists the
tasks whose rows start on different UTC days: they are left out of ``task_day_kpis`` and read per task.

``task_step_days`` counts the priced task rows per UTC day of the row's first event, use case, highest step,
outcome and model: the optimizer's task step counts. Those four may be NULL; a NULL is stored as ``''`` (0 for
the step) with its bit set in ``nulls`` (:data:`STEP_KEYS` order: 1, 2, 4, 8), so that the key stays unique
on both databases and a NULL never meets a stored ``''``.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, String, Table, UniqueConstraint

from aifinops.domain import DIMENSIONS
from aifinops.store.tables import DIM_LEN, UtcDateTime, metadata

__all__ = [
    "KPI_DIMS",
    "STEP_KEYS",
    "TASK_DAY_SUMS",
    "kpi_split_tasks",
    "rollup_watermarks",
    "task_day_costs",
    "task_day_kpis",
    "task_step_days",
]

_ID = BigInteger().with_variant(Integer, "sqlite")

rollup_watermarks = Table(
    "rollup_watermarks",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("last_id", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime()),
)

#: The dimensions of a task aggregate: the tenant first (part of the task's key), then the others.
KPI_DIMS: tuple[str, ...] = ("tenant", *(d for d in DIMENSIONS if d != "tenant"))
#: The sums of a ``task_day_kpis`` row.
TASK_DAY_SUMS: tuple[str, ...] = (
    "tasks",
    "steps",
    "retries",
    "input_tokens",
    "output_tokens",
    "unpriced_events",
    "value_nanos",
)


def _dims() -> list[Column[str]]:
    return [Column(d, String(DIM_LEN), nullable=False, server_default="") for d in KPI_DIMS]


task_day_kpis = Table(
    "task_day_kpis",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("day", BigInteger, nullable=False),  # days since the epoch (UTC) of the task's first event
    *_dims(),
    Column("outcome", String(16), nullable=False),
    Column("value_currency", String(3), nullable=False, server_default=""),
    *[Column(n, BigInteger, nullable=False, server_default="0") for n in TASK_DAY_SUMS],
    UniqueConstraint("day", *KPI_DIMS, "outcome", "value_currency", name="uq_task_day_kpis_key"),
)

task_day_costs = Table(
    "task_day_costs",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("day", BigInteger, nullable=False),  # days since the epoch (UTC) of the row's first event
    *_dims(),
    Column("outcome", String(16), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("task_rows", BigInteger, nullable=False, server_default="0"),
    Column("cost_nanos", BigInteger, nullable=False, server_default="0"),
    UniqueConstraint("day", *KPI_DIMS, "outcome", "currency", name="uq_task_day_costs_key"),
)

kpi_split_tasks = Table(
    "kpi_split_tasks",
    metadata,
    Column("tenant", String(DIM_LEN), primary_key=True),
    Column("task_id", String(128), primary_key=True),
)

#: The key of a ``task_step_days`` row besides its day, in the order of the bits of ``nulls``.
STEP_KEYS: tuple[str, ...] = ("use_case", "max_step", "outcome", "model")

task_step_days = Table(
    "task_step_days",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("day", BigInteger, nullable=False),  # days since the epoch (UTC) of the row's first event
    Column("use_case", String(DIM_LEN), nullable=False, server_default=""),
    Column("max_step", Integer, nullable=False, server_default="0"),
    Column("outcome", String(16), nullable=False, server_default=""),
    Column("model", String(DIM_LEN), nullable=False, server_default=""),
    Column("nulls", Integer, nullable=False, server_default="0"),  # which of STEP_KEYS are NULL
    Column("task_rows", BigInteger, nullable=False, server_default="0"),
    UniqueConstraint("day", *STEP_KEYS, "nulls", name="uq_task_step_days_key"),
)
