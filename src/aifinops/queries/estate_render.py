"""The estate and its cost drivers as Markdown, a Mermaid flowchart or an SVG picture (``aifinops discover``).

Amounts are rounded to two decimals for reading, with their currency and basis; the JSON documents of
:mod:`aifinops.queries.estate` and :mod:`aifinops.queries.cost_drivers` carry them exactly.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import Any

__all__ = [
    "DiscoverFormat",
    "drivers_markdown",
    "estate_markdown",
    "estate_mermaid",
    "estate_svg",
    "money_text",
]

_CENT = Decimal("0.01")


class DiscoverFormat(StrEnum):
    MD = "md"
    MERMAID = "mermaid"
    SVG = "svg"
    JSON = "json"


def money_text(items: Iterable[dict[str, str]] | dict[str, str] | None) -> str:
    """``[{"amount": "1.005", "currency": "USD", "basis": "actual"}]`` → ``1.00 USD (actual)``."""
    if items is None:
        return "—"
    values = [items] if isinstance(items, dict) else list(items)
    if not values:
        return "—"
    return ", ".join(
        f"{Decimal(m['amount']).quantize(_CENT, rounding=ROUND_HALF_EVEN):,} {m['currency']} ({m['basis']})"
        for m in values
    )


def _cell(value: Any) -> str:
    text = ", ".join(value) if isinstance(value, list) else "—" if value in (None, "") else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _section(title: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    return [f"### {title}", "", *_table(header, rows)]


def _short(resource_id: str) -> str:
    return resource_id.rsplit("/", 1)[-1] or resource_id


def estate_markdown(estate: dict[str, Any]) -> str:
    """The estate as Markdown: apps, use cases, deployments, accounts, shared resources, and its graph."""
    out = [f"## AI estate {estate['start']} … {estate['end']} (end exclusive)", ""]
    out += _section(
        "Apps",
        ("app", "use cases", "cost centers", "teams", "estimated"),
        (
            (a["app"], a["use_cases"], a["cost_centers"], a["teams"], money_text(a["estimated"]))
            for a in estate["apps"]
        ),
    )
    out += _section(
        "Use cases",
        ("use case", "apps", "deployments", "cost centers", "estimated"),
        (
            (u["use_case"], u["apps"], u["deployments"], u["cost_centers"], money_text(u["estimated"]))
            for u in estate["use_cases"]
        ),
    )
    out += _section(
        "Deployments",
        ("deployment", "models", "PTU units", "accounts", "estimated"),
        (
            (
                d["deployment"],
                [f"{m['model']} ({m['deployment_type'] or 'type unknown'})" for m in d["models"]],
                d.get("provisioned_units"),
                [_short(a) for a in d["accounts"]],
                money_text(d["estimated"]),
            )
            for d in estate["deployments"]
        ),
    )
    out += _section(
        "Accounts",
        ("account", "owner", "cost center", "missing tags"),
        ((a["name"], a["owner"], a["cost_center"], a["missing"]) for a in estate["accounts"]),
    )
    out += _section(
        "Shared resources",
        ("resource", "kind", "owner", "cost center", "used by (allocated, actual)"),
        (
            (
                s["name"],
                s["kind"],
                s["owner"],
                s["cost_center"],
                [f"{u['use_case']} {money_text(u)}" for u in s["used_by"][:4]],
            )
            for s in estate["shared_resources"]
        ),
    )
    unowned = estate["unowned_resources"]
    out += [
        f"Resources without an owner tag: {', '.join(_short(r) for r in unowned) if unowned else 'none'}.",
        "",
    ]
    return "\n".join([*out, "```mermaid", estate_mermaid(estate).rstrip(), "```", ""])


def drivers_markdown(drivers: dict[str, Any]) -> str:
    """The cost drivers per use case as a Markdown table."""
    rows = []
    for u in drivers["use_cases"]:
        named = [f"{d['driver']} {money_text(d)}" for d in u["drivers"][:6]]
        rows.append(
            (
                u["use_case"],
                money_text(u["estimated"]),
                money_text(u["allocated"]),
                u["top_driver"],
                named,
                money_text(u["of_which"]["retries"]),
                money_text(u["of_which"]["extra_steps"]),
                u["cached_share"],
            )
        )
    header = (
        "use case",
        "estimated",
        "allocated",
        "top driver",
        "drivers",
        "retries",
        "extra steps",
        "cached share",
    )
    return "\n".join(
        [f"## Cost drivers per use case {drivers['start']} … {drivers['end']}", "", *_table(header, rows)]
    )


def _id(prefix: str, name: str) -> str:
    return prefix + "_" + re.sub(r"[^A-Za-z0-9]", "_", name)


def _label(*lines: str) -> str:
    return '["' + "<br/>".join(html.escape(x, quote=True).replace('"', "#quot;") for x in lines if x) + '"]'


def _columns(estate: dict[str, Any]) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """(column title, [(node id, title, subtitle)]) from left to right."""
    return [
        ("Apps", [(_id("app", a["app"]), a["app"], ", ".join(a["teams"])) for a in estate["apps"]]),
        (
            "Use cases",
            [
                (_id("uc", u["use_case"]), u["use_case"], money_text(u["estimated"]))
                for u in estate["use_cases"]
            ],
        ),
        (
            "Deployments",
            [
                (_id("dep", d["deployment"]), d["deployment"], ", ".join(m["model"] for m in d["models"]))
                for d in estate["deployments"]
            ],
        ),
        (
            "Accounts",
            [
                (
                    _id("acct", a["name"]),
                    a["name"],
                    f"owner {a['owner'] or '?'} · cc {a['cost_center'] or '?'}",
                )
                for a in estate["accounts"]
            ],
        ),
        (
            "Shared resources",
            [
                (
                    _id("res", s["name"]),
                    f"{s['name']} ({s['kind']})",
                    f"owner {s['owner'] or '?'} · cc {s['cost_center'] or '?'}",
                )
                for s in estate["shared_resources"]
            ],
        ),
    ]


def _edges(estate: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(from id, to id, dashed): usage links solid, shared resources' allocated users dashed."""
    names = {a["resource_id"]: a["name"] for a in estate["accounts"]}
    edges = [(_id("app", a["app"]), _id("uc", u), False) for a in estate["apps"] for u in a["use_cases"]]
    edges += [
        (_id("uc", u["use_case"]), _id("dep", d), False)
        for u in estate["use_cases"]
        for d in u["deployments"]
    ]
    edges += [
        (_id("dep", d["deployment"]), _id("acct", names[a]), False)
        for d in estate["deployments"]
        for a in d["accounts"]
        if a in names
    ]
    use_cases = {u["use_case"] for u in estate["use_cases"]}
    edges += [
        (_id("uc", u["use_case"]), _id("res", s["name"]), True)
        for s in estate["shared_resources"]
        for u in s["used_by"]
        if u["use_case"] in use_cases
    ]
    return list(dict.fromkeys(edges))


def estate_mermaid(estate: dict[str, Any]) -> str:
    """The estate as a Mermaid flowchart: usage solid, shared resources' allocated users dashed."""
    out = ["flowchart LR"]
    for i, (title, nodes) in enumerate(_columns(estate)):
        out.append(f'  subgraph col{i} ["{title}"]')
        out += [f"    {node}{_label(name, sub)}" for node, name, sub in nodes]
        out.append("  end")
    out += [f"  {a} {'-.->' if dashed else '-->'} {b}" for a, b, dashed in _edges(estate)]
    return "\n".join(out) + "\n"


_W, _H, _GAP_X, _GAP_Y, _TOP = 230, 42, 70, 12, 60


def estate_svg(estate: dict[str, Any]) -> str:
    """The estate as an SVG picture: one column per layer, boxes with owner or cost, links between them."""
    columns = _columns(estate)
    at: dict[str, tuple[int, int]] = {}
    body = []
    for i, (title, nodes) in enumerate(columns):
        x = 20 + i * (_W + _GAP_X)
        body.append(f'<text x="{x}" y="30" class="h">{html.escape(title)}</text>')
        for j, (node, name, sub) in enumerate(nodes):
            y = _TOP + j * (_H + _GAP_Y)
            at[node] = (x, y)
            body.append(
                f'<g><rect x="{x}" y="{y}" width="{_W}" height="{_H}" rx="6" class="box"/>'
                f'<text x="{x + 8}" y="{y + 17}" class="n">{html.escape(name[:34])}</text>'
                f'<text x="{x + 8}" y="{y + 33}" class="s">{html.escape(sub[:40])}</text></g>'
            )
    lines = []
    for a, b, dashed in _edges(estate):
        if a in at and b in at:
            (x1, y1), (x2, y2) = at[a], at[b]
            sx, sy, ex, ey = x1 + _W, y1 + _H // 2, x2, y2 + _H // 2
            mid = (sx + ex) // 2
            dash = ' stroke-dasharray="5 4"' if dashed else ""
            lines.append(f'<path d="M{sx},{sy} C{mid},{sy} {mid},{ey} {ex},{ey}" class="e"{dash}/>')
    width = 20 + len(columns) * (_W + _GAP_X)
    height = _TOP + max((len(n) for _, n in columns), default=1) * (_H + _GAP_Y) + 20
    style = (
        "<style>.h{font:bold 14px sans-serif;fill:#222}.n{font:12px sans-serif;fill:#111}"
        ".s{font:10px sans-serif;fill:#555}.box{fill:#f4f7fb;stroke:#5b7fa6}"
        ".e{fill:none;stroke:#8aa;stroke-width:1.2}</style>"
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="AI estate {estate["start"]} to {estate["end"]}">{style}'
        + "".join(lines)
        + "".join(body)
        + "</svg>\n"
    )
