"""Small inline SVG charts for reports (no script, no outside asset): horizontal bars with an optional
marker per bar, and one stacked bar whose parts sum to a whole."""

from __future__ import annotations

import html
from collections.abc import Sequence
from decimal import Decimal

__all__ = ["PALETTE", "hbar_chart", "stacked_bar"]

#: Colours that stay apart for colour-blind readers (Okabe-Ito).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
_FONT = "font-family:sans-serif"


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def hbar_chart(
    rows: Sequence[tuple[str, Decimal, Decimal | None]],
    *,
    title: str,
    unit: str,
    marker_label: str = "target",
    width: int = 720,
    places: int = 4,
) -> str:
    """One bar per ``(label, value, marker)``; a marker (e.g. a target or a threshold) is a vertical tick."""
    label_w, bar_h, gap, top = 190, 18, 8, 34
    scale_max = max([v for _, v, _ in rows] + [m for *_, m in rows if m is not None] + [Decimal(0)])
    span = width - label_w - 110
    height = top + len(rows) * (bar_h + gap) + 24
    parts = [f'<text x="0" y="16" style="{_FONT};font-size:14px;font-weight:bold">{_esc(title)}</text>']
    for i, (label, value, marker) in enumerate(rows):
        y = top + i * (bar_h + gap)
        w = 0 if scale_max <= 0 else int(span * value / scale_max)
        parts.append(f'<text x="0" y="{y + 13}" style="{_FONT};font-size:12px">{_esc(label[:28])}</text>')
        parts.append(
            f'<rect x="{label_w}" y="{y}" width="{max(w, 1)}" height="{bar_h}" fill="{PALETTE[0]}"/>'
        )
        amount = _esc(f"{value:,.{places}f} {unit}")
        parts.append(
            f'<text x="{label_w + w + 6}" y="{y + 13}" style="{_FONT};font-size:11px">{amount}</text>'
        )
        if marker is not None and scale_max > 0:
            mx = label_w + int(span * marker / scale_max)
            parts.append(
                f'<line x1="{mx}" x2="{mx}" y1="{y - 3}" y2="{y + bar_h + 3}" '
                f'stroke="{PALETTE[3]}" stroke-width="3">'
                f"<title>{_esc(f'{marker_label} {marker:,.{places}f} {unit}')}</title></line>"
            )
    if any(m is not None for *_, m in rows):
        parts.append(
            f'<text x="{label_w}" y="{height - 6}" style="{_FONT};font-size:11px;fill:{PALETTE[3]}">'
            f"| {_esc(marker_label)}</text>"
        )
    return _svg(width, height, title, parts)


def stacked_bar(parts: Sequence[tuple[str, Decimal]], *, title: str, unit: str, width: int = 720) -> str:
    """One bar split into ``parts`` (label, amount ≥ 0) with a legend; the parts are the whole."""
    total = sum((v for _, v in parts), Decimal(0))
    span, y = width - 20, 30
    body = [f'<text x="0" y="16" style="{_FONT};font-size:14px;font-weight:bold">{_esc(title)}</text>']
    x = 0
    for i, (label, value) in enumerate(parts):
        w = 0 if total <= 0 else int(span * value / total)
        colour = PALETTE[i % len(PALETTE)]
        body.append(
            f'<rect x="{x}" y="{y}" width="{w}" height="26" fill="{colour}">'
            f"<title>{_esc(f'{label} {value:,.2f} {unit}')}</title></rect>"
        )
        x += w
        ly = y + 46 + i * 18
        share = "" if total <= 0 else f" ({value / total:.1%})"
        body.append(f'<rect x="0" y="{ly - 10}" width="12" height="12" fill="{colour}"/>')
        legend = _esc(f"{label}: {value:,.2f} {unit}{share}")
        body.append(f'<text x="18" y="{ly}" style="{_FONT};font-size:12px">{legend}</text>')
    height = y + 46 + len(parts) * 18
    return _svg(width, height, title, body)


def _svg(width: int, height: int, title: str, parts: Sequence[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_esc(title)}">' + "".join(parts) + "</svg>"
    )
