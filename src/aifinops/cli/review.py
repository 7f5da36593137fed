"""``aifinops review``: the monthly cost review pack as HTML, PDF (headless Chromium's print) or Markdown."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from aifinops.errors import ValidationError

__all__ = ["review"]

console = Console(stderr=True)


def review(
    period: Annotated[str | None, typer.Option(help="Month YYYY-MM (default: last month).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="html, pdf, md or json.")] = "html",
    output: Annotated[
        Path | None,
        typer.Option(help="Write here (default: standard output; aifinops-review-<period>.pdf for pdf)."),
    ] = None,
) -> None:
    """Write the pack for a monthly cost review: cost per successful task against last month and target,
    budgets, anomalies, allocation and data quality, what changed, the estate and the cost drivers."""
    from aifinops.cli.discover import last_month
    from aifinops.config import load_settings
    from aifinops.queries.periods import month_bounds
    from aifinops.queries.recommendations import optimize_settings
    from aifinops.queries.review import review_document
    from aifinops.queries.review_render import render_review_html, render_review_markdown
    from aifinops.store import Store

    if fmt not in ("html", "pdf", "md", "json"):
        raise ValidationError(f"--format must be html, pdf, md or json, got {fmt!r}", field="format")
    month = period or last_month(dt.datetime.now(dt.UTC))
    month_bounds(month, field="--period")
    settings = load_settings()
    store = Store.from_settings(settings)
    store.check_schema()
    with console.status(f"reading the review of {month}"):
        doc = review_document(
            store,
            month,
            settings=settings.review,
            currency=settings.currency,
            timezone=settings.timezone,
            max_unallocated_share=settings.allocation.max_unallocated_share,
            now=dt.datetime.now(dt.UTC),
            optimize=optimize_settings(settings.optimize),
        )
    if fmt == "pdf":
        _write_pdf(render_review_html(doc), output or Path(f"aifinops-review-{month}.pdf"))
        return
    if fmt == "json":
        text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    else:
        text = render_review_html(doc) if fmt == "html" else render_review_markdown(doc)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}")


def _write_pdf(page: str, output: Path) -> None:
    from aifinops.jobs.chromium import print_pdf

    with tempfile.TemporaryDirectory(prefix="aifinops-review-") as work:
        source = Path(work) / "review.html"
        source.write_text(page, encoding="utf-8")
        with console.status(f"printing {output} with headless Chromium"):
            print_pdf(source, output)
    console.print(f"wrote {output}")
