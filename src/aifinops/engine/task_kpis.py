"""Cost per successful task and its companions, from per-group task statistics (estimated basis).

Cost per successful task = all cost attributed to the group (succeeded, failed, abandoned, escalated and
still-open tasks alike) ÷ tasks that succeeded. The cost of failed and abandoned tasks is reported beside it,
never hidden in it. A task with no outcome is open, never counted as a success.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

from aifinops.domain import Basis, Money, Outcome, from_nanos

__all__ = ["GroupKpi", "TaskGroupStats", "task_kpis"]

OPEN = "open"
_WASTED = (Outcome.FAILED.value, Outcome.ABANDONED.value)


@dataclass(frozen=True, slots=True)
class TaskGroupStats:
    """Task counts and usage for one group (e.g. a use case) and outcome, with cost per currency."""

    group: tuple[str | None, ...]
    outcome: str  # succeeded, failed, abandoned, escalated, open
    tasks: int
    steps: int
    retries: int
    input_tokens: int
    output_tokens: int
    unpriced_events: int
    cost_nanos: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class GroupKpi:
    group: tuple[str | None, ...]
    tasks: int
    by_outcome: Mapping[str, int]
    success_rate: Decimal | None  # succeeded ÷ tasks with an outcome
    cost: tuple[Money, ...]  # per currency, all tasks
    cost_per_successful_task: tuple[Money, ...]  # per currency; empty when nothing succeeded
    cost_of_failed_and_abandoned: tuple[Money, ...]
    avg_steps: Decimal
    avg_retries: Decimal
    avg_input_tokens: Decimal
    avg_output_tokens: Decimal
    unpriced_events: int


def _ratio(num: int, den: int, places: str = "0.0001") -> Decimal:
    return (Decimal(num) / Decimal(den)).quantize(Decimal(places)) if den else Decimal(0)


def _money(nanos: Mapping[str, int], basis: Basis) -> tuple[Money, ...]:
    return tuple(Money(from_nanos(v), c, basis) for c, v in sorted(nanos.items()))


def task_kpis(stats: Iterable[TaskGroupStats], *, basis: Basis = Basis.ESTIMATED) -> list[GroupKpi]:
    """Fold per-(group, outcome) statistics into one KPI row per group.

    >>> s = [TaskGroupStats(("a",), "succeeded", 2, 4, 0, 10, 5, 0, {"USD": 3_000_000_000}),
    ...      TaskGroupStats(("a",), "failed", 1, 3, 2, 9, 1, 0, {"USD": 1_000_000_000})]
    >>> k = task_kpis(s)[0]
    >>> str(k.cost_per_successful_task[0].amount), str(k.success_rate)
    ('2', '0.6667')
    """
    groups: dict[tuple[str | None, ...], list[TaskGroupStats]] = {}
    for s in stats:
        groups.setdefault(s.group, []).append(s)
    return [_fold(group, rows, basis) for group, rows in sorted(groups.items(), key=lambda kv: str(kv[0]))]


def _fold(group: tuple[str | None, ...], rows: list[TaskGroupStats], basis: Basis) -> GroupKpi:
    by_outcome: dict[str, int] = {}
    total: dict[str, int] = {}
    wasted: dict[str, int] = {}
    for r in rows:
        by_outcome[r.outcome] = by_outcome.get(r.outcome, 0) + r.tasks
        for cur, v in r.cost_nanos.items():
            total[cur] = total.get(cur, 0) + v
            if r.outcome in _WASTED:
                wasted[cur] = wasted.get(cur, 0) + v
    tasks = sum(by_outcome.values())
    succeeded = by_outcome.get(Outcome.SUCCEEDED.value, 0)
    closed = tasks - by_outcome.get(OPEN, 0)
    per_success = (
        tuple(Money(from_nanos(v) / succeeded, c, basis) for c, v in sorted(total.items()))
        if succeeded
        else ()
    )
    return GroupKpi(
        group=group,
        tasks=tasks,
        by_outcome=MappingProxyType(by_outcome),
        success_rate=_ratio(succeeded, closed) if closed else None,
        cost=_money(total, basis),
        cost_per_successful_task=per_success,
        cost_of_failed_and_abandoned=_money(wasted, basis),
        avg_steps=_ratio(sum(r.steps for r in rows), tasks, "0.01"),
        avg_retries=_ratio(sum(r.retries for r in rows), tasks, "0.01"),
        avg_input_tokens=_ratio(sum(r.input_tokens for r in rows), tasks, "0.1"),
        avg_output_tokens=_ratio(sum(r.output_tokens for r in rows), tasks, "0.1"),
        unpriced_events=sum(r.unpriced_events for r in rows),
    )
