"""Rich tables of the demo's financial month: the bill and where it went, and cost per successful task."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from rich.table import Table

from aifinops.demo_finance import DemoFinanceReport

__all__ = ["finance_tables"]


def _money(amounts: Mapping[str, Decimal], places: str = "0.01") -> str:
    return ", ".join(f"{a.quantize(Decimal(places))} {c}" for c, a in sorted(amounts.items())) or "–"


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
