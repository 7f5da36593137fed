"""The monthly cost review as HTML (pictures as inline SVG, ready for headless Chromium's print to PDF) or
Markdown, from the sections of :mod:`aifinops.queries.review_sections`."""

from __future__ import annotations

import html
from enum import StrEnum
from typing import Any

from aifinops.queries.review_sections import review_sections

__all__ = ["ReviewFormat", "render_review_html", "render_review_markdown"]


class ReviewFormat(StrEnum):
    HTML = "html"
    PDF = "pdf"
    MD = "md"


def _cell(value: Any) -> str:
    return (
        ", ".join(map(str, value)) if isinstance(value, list) else "—" if value in (None, "") else str(value)
    )


_CSS = """body{font-family:sans-serif;margin:2em;color:#111;max-width:1100px}h1{font-size:1.6em}
h2{border-bottom:2px solid #0072B2;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.85em}
th,td{border:1px solid #bbb;padding:.25em .5em;text-align:left;vertical-align:top}th{background:#eef3f8}
section{break-inside:auto}table,svg{break-inside:avoid}svg{max-width:100%;height:auto;margin:.5em 0}
.meta{color:#444}@page{size:A4 landscape;margin:12mm}"""


def render_review_html(doc: dict[str, Any]) -> str:
    """A self-contained HTML page: no script, no outside asset; pictures inline."""
    title = f"Monthly cost review {doc['period']}"
    body = [
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">{html.escape(doc["start"])} to {html.escape(doc["end"])} (end exclusive) · basis '
        f"{html.escape(doc['basis'])} · generated {html.escape(doc['generated_at'][:19])} UTC</p>",
    ]
    for s in review_sections(doc):
        body.append(f'<section id="{s.key}"><h2>{html.escape(s.title)}</h2>')
        for kind, value in s.blocks:
            if kind == "p":
                body.append(f"<p>{html.escape(value)}</p>")
            elif kind == "svg":
                body.append(f"<figure>{value}</figure>")
            elif kind == "table":
                head, rows = value
                body.append(
                    "<table><thead><tr>"
                    + "".join(f"<th>{html.escape(h)}</th>" for h in head)
                    + "</tr></thead><tbody>"
                    + "".join(
                        "<tr>" + "".join(f"<td>{html.escape(_cell(c))}</td>" for c in r) + "</tr>"
                        for r in rows
                    )
                    + "</tbody></table>"
                )
        body.append("</section>")
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>\n"
    )


def _md_cell(value: Any) -> str:
    return _cell(value).replace("|", "\\|").replace("\n", " ")


def render_review_markdown(doc: dict[str, Any]) -> str:
    """The review as Markdown: tables and sentences; the estate as a Mermaid block."""
    out = [
        f"# Monthly cost review {doc['period']}",
        "",
        f"{doc['start']} to {doc['end']} (end exclusive) · basis {doc['basis']} · "
        f"generated {doc['generated_at'][:19]} UTC",
        "",
    ]
    for s in review_sections(doc):
        out += [f"## {s.title}", ""]
        for kind, value in s.blocks:
            if kind == "p":
                out += [value, ""]
            elif kind == "mermaid":
                out += ["```mermaid", value.rstrip(), "```", ""]
            elif kind == "table":
                head, rows = value
                out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
                out += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in rows] + [""]
    return "\n".join(out)
