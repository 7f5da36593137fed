"""``aifinops export``: a period's allocated cost, usage, tasks and KPIs as Parquet or CSV tables, for
Power BI, Fabric or a spreadsheet."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from aifinops.errors import ValidationError

if TYPE_CHECKING:
    from aifinops.jobs.export import ExportTarget

__all__ = ["export", "period_months"]

console = Console(stderr=True)
_MONTH = re.compile(r"(\d{4})-(\d{2})$")


def _month(value: str) -> tuple[int, int]:
    m = _MONTH.match(value)
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValidationError(
            f"--period takes a month YYYY-MM or a range YYYY-MM..YYYY-MM, got {value!r}", field="period"
        )
    return int(m.group(1)), int(m.group(2))


def period_months(period: str) -> list[str]:
    """``2026-11`` → ['2026-11']; ``2026-09..2026-11`` → ['2026-09', '2026-10', '2026-11'] (inclusive)."""
    first, _, last = period.partition("..")
    (y, m), end = _month(first.strip()), _month((last or first).strip())
    if end < (y, m):
        raise ValidationError(f"--period range ends before it starts: {period!r}", field="period")
    months = []
    while (y, m) <= end:
        months.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return months


def _target(to: str) -> ExportTarget:
    from aifinops.jobs.export import BlobTarget, FolderTarget

    if not to.startswith(("https://", "http://")):
        return FolderTarget(Path(to))
    from aifinops.config import load_settings
    from aifinops.sources.azure_auth import build_credential
    from aifinops.sources.blob_container import container_from_url

    query = to.partition("?")[2]
    credential = None if query else build_credential(load_settings().azure)
    container, prefix = container_from_url(to, credential, what="--to")
    return BlobTarget(container, prefix)


def export(
    period: Annotated[str, typer.Option(help="Month YYYY-MM, or months YYYY-MM..YYYY-MM.")],
    to: Annotated[
        str,
        typer.Option(
            help="A folder, or https://<account>.blob.core.windows.net/<container>[/<folder>][?<sas>]."
        ),
    ],
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
    tables: Annotated[
        str | None, typer.Option(help="Comma-separated: allocated_cost, usage, tasks, kpis (default: all).")
    ] = None,
) -> None:
    """Write each month's tables as table=<name>/month=<YYYY-MM>/part-0.<format>, replacing an earlier export
    of the same months (schema: docs/export.md)."""
    from aifinops.config import load_settings
    from aifinops.jobs.export import ExportFormat, export_months
    from aifinops.queries.export_tables import TABLES
    from aifinops.store import Store

    if fmt not in {f.value for f in ExportFormat}:
        raise ValidationError(f"--format must be parquet or csv, got {fmt!r}", field="format")
    chosen = [t.strip() for t in tables.split(",") if t.strip()] if tables else list(TABLES)
    unknown = [t for t in chosen if t not in TABLES]
    if unknown:
        raise ValidationError(f"--tables: unknown {unknown}; choose from {list(TABLES)}", field="tables")
    months = period_months(period)
    store = Store.from_settings(load_settings())
    store.check_schema()
    target = _target(to)
    with console.status(f"exporting {', '.join(chosen)} of {period} as {fmt}"):
        written = export_months(store, months, fmt=ExportFormat(fmt), target=target, tables=chosen)
    summary = Table("file", "rows", "bytes", title=f"aifinops export → {to}")
    for w in written:
        summary.add_row(w.name, str(w.rows), str(w.bytes))
    console.print(summary)
