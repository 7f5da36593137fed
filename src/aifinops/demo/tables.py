"""Rich tables of the demo month: cost per successful task, the bill and where it went, fully loaded cost."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

from rich.table import Table

from aifinops.demo.finance import DemoFinanceReport
from aifinops.domain import Basis, from_nanos
from aifinops.engine.kpis import TaskKpi

__all__ = ["finance_tables", "kpi_table"]


def _amounts(amounts: Iterable[tuple[Decimal, str]], places: str) -> str:
    return ", ".join(f"{a.quantize(Decimal(places))} {c}" for a, c in amounts) or "–"


def _money(amounts: Mapping[str, Decimal], places: str = "0.01") -> str:
    return _amounts(((a, c) for c, a in sorted(amounts.items())), places)


def _per_success(k: TaskKpi) -> Decimal:
    return next((c.per_successful_task for c in k.on(Basis.ESTIMATED) if c.per_successful_task), Decimal(0))


def kpi_table(kpis: Sequence[TaskKpi]) -> Table:
    """Cost per successful task by use case on the estimated basis, the dearest first."""
    table = Table(title="Cost per successful task (estimated basis)")
    for col in (
        "use case",
        "tasks",
        "success rate",
        "cost",
        "cost / successful task",
        "failed+abandoned cost",
        "avg steps",
        "avg retries",
    ):
        table.add_column(col, justify="left" if col == "use case" else "right")
    places = "0.0001"
    for k in sorted(kpis, key=lambda k: -_per_success(k)):
        est = k.on(Basis.ESTIMATED)
        per_success = [(c.per_successful_task, c.currency) for c in est if c.per_successful_task is not None]
        table.add_row(
            k.group[0] or "(none)",
            str(k.tasks),
            f"{(k.success_rate or 0) * 100:.1f} %",
            _amounts([(from_nanos(c.cost_nanos), c.currency) for c in est], places),
            _amounts(per_success, places),
            _amounts([(from_nanos(c.failed_and_abandoned_nanos), c.currency) for c in est], places),
            str(k.steps_per_task.quantize(Decimal("0.01"))),
            str(k.retries_per_task.quantize(Decimal("0.01"))),
        )
    return table


def _summary(report: DemoFinanceReport) -> Table:
    table = Table(title=f"Azure bill of {report.period}: collected, allocated, budgeted")
    table.add_column("figure")
    table.add_column("value", justify="right")
    utilisation = "–" if report.ptu_utilisation is None else f"{report.ptu_utilisation * 100:.1f} %"
    rows = (
        ("actual cost (collected)", _money(report.actual)),
        ("amortized cost (collected)", _money(report.amortized)),
        ("allocated (actual)", _money(report.allocated)),
        (
            "idle PTU capacity (actual / amortized)",
            f"{_money(report.idle_ptu)} / {_money(report.idle_ptu_amortized)}",
        ),
        ("PTU utilisation", utilisation),
        ("PTU estimated: hours × units × price (carried by calls / estimated idle)", _ptu_estimate(report)),
        (
            "commitment purchases (actual; charged through amortized)",
            f"{_money(report.purchases)} {', '.join(report.purchases_named)}".strip(),
        ),
        (
            "unallocated (actual / amortized)",
            f"{_money(report.unallocated)} / {_money(report.unallocated_amortized)}",
        ),
        ("budget thresholds crossed", "\n".join(report.budgets_crossed) or "none"),
        ("alerts fired / delivered (signed webhook)", f"{report.alerts_fired} / {report.alerts_delivered}"),
        ("anomalies", "; ".join(report.anomalies) or "none"),
    )
    for figure, value in rows:
        table.add_row(figure, value)
    return table


def _ptu_estimate(report: DemoFinanceReport) -> str:
    e = report.ptu_estimate
    if e.problem is not None or e.currency is None:
        return f"not estimated: {e.problem}"
    money = {e.currency: e.cost}
    return f"{_money(money)} ({_money({e.currency: e.used})} / {_money({e.currency: e.idle})})"


def _per_task(report: DemoFinanceReport) -> Table:
    table = Table(title="Cost per successful task: estimated vs fully loaded")
    for column in ("use case", "succeeded", "estimated", "actual (allocated)", "amortized (allocated)"):
        table.add_column(column, justify="left" if column == "use case" else "right")
    ranked = sorted(report.fully_loaded, key=lambda f: -sum(f.actual.values(), Decimal(0)))
    for f in ranked:
        table.add_row(
            f.use_case,
            str(f.succeeded),
            _money(f.estimated, "0.0001"),
            _money(f.actual, "0.0001"),
            _money(f.amortized, "0.0001"),
        )
    return table


def finance_tables(report: DemoFinanceReport) -> tuple[Table, Table]:
    """The summary of the month's bill and the cost per successful task, estimated and fully loaded."""
    return _summary(report), _per_task(report)
