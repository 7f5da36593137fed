"""Report writers: a showback/chargeback table as text, CSV, JSON or HTML, and allocated cost as FOCUS rows.

CSV, JSON and FOCUS carry money exactly (every nano, as a string in JSON); the text table and HTML round to
two decimals for reading and say so. FOCUS rows follow the 1.2 column names, plus the allocation columns
of the 1.3 working draft that fit (``AllocatedMethodId``, ``AllocatedMethodDetails``, ``AllocatedTags``)
and ``x_``-prefixed extensions for what FOCUS has no column for (bucket, reason, basis).
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import Any

from aifinops.domain import Basis, CostRecord, from_nanos, to_nanos
from aifinops.engine.allocation import AllocationLine, AllocationResult, Bucket
from aifinops.engine.showback import BucketItem, Showback, ShowbackRow, purchase_note

__all__ = ["FOCUS_COLUMNS", "ReportFormat", "render_focus", "render_showback", "showback_document"]

_CENT = Decimal("0.01")
_DISPLAY_NOTE = "Amounts rounded to 2 decimals for display; csv and json carry them exactly."


class ReportFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"
    HTML = "html"
    FOCUS = "focus"


def _exact(nanos: int) -> str:
    return format(from_nanos(nanos), "f")


def _display(nanos: int) -> str:
    return f"{from_nanos(nanos).quantize(_CENT, rounding=ROUND_HALF_EVEN):,}"


def _label(showback: Showback, row: ShowbackRow) -> list[str]:
    if row.bucket is Bucket.ALLOCATED:
        return [value or "(none)" for value in row.key]
    return [f"({row.bucket.value})"] + [""] * (len(showback.by) - 1)


def _table_rows(showback: Showback, *, exact: bool) -> tuple[list[str], list[list[str]]]:
    money = _exact if exact else _display
    header = [*showback.by, "bucket", "currency", "amount", "records", "drivers"]
    rows = [
        [
            *_label(showback, r),
            r.bucket.value,
            r.currency,
            money(r.amount_nanos),
            str(r.records),
            "; ".join(r.drivers),
        ]
        for r in showback.rows
    ]
    return header, rows


def _totals_rows(showback: Showback, *, exact: bool) -> list[list[str]]:
    money = _exact if exact else _display
    return [
        [
            t.currency,
            money(t.allocated_nanos),
            money(t.idle_nanos),
            money(t.purchases_nanos),
            money(t.unallocated_nanos),
            money(t.total_nanos),
            money(t.invoice_nanos),
        ]
        for t in showback.totals
    ]


_TOTAL_HEADER = ["currency", "allocated", "idle", "purchases", "unallocated", "total", "invoice"]


def _notes(showback: Showback) -> list[str]:
    note = purchase_note(showback)
    return [] if note is None else [note]


def _text(showback: Showback) -> str:
    header, rows = _table_rows(showback, exact=False)
    out = [f"Showback {showback.period} basis={showback.basis.value} by={','.join(showback.by)}", ""]
    out += [*_aligned(header, rows), "", *_aligned(_TOTAL_HEADER, _totals_rows(showback, exact=False))]
    return "\n".join([*out, "", *_notes(showback), _DISPLAY_NOTE]) + "\n"


def _aligned(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def _csv(showback: Showback) -> str:
    header, rows = _table_rows(showback, exact=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def showback_document(showback: Showback) -> dict[str, Any]:
    """The showback as a JSON-ready document; money as exact strings."""
    return {
        "period": showback.period,
        "basis": showback.basis.value,
        "by": list(showback.by),
        "rows": [
            {
                **dict(zip(showback.by, r.key, strict=True)),
                "bucket": r.bucket.value,
                "currency": r.currency,
                "amount": _exact(r.amount_nanos),
                "records": r.records,
                "drivers": list(r.drivers),
            }
            for r in showback.rows
        ],
        "totals": [dict(zip(_TOTAL_HEADER, row, strict=True)) for row in _totals_rows(showback, exact=True)],
        "unallocated": [_item_json(i) for i in showback.unallocated],
        "purchases": [_item_json(i) for i in showback.purchases],
        "notes": _notes(showback),
    }


def _item_json(item: BucketItem) -> dict[str, Any]:
    return {
        "billing_day": item.billing_day,
        "resource_id": item.resource_id,
        "meter": item.meter,
        "charge_type": item.charge_type,
        "amount": _exact(item.amount_nanos),
        "currency": item.currency,
        "reason": item.reason,
    }


def _json(showback: Showback) -> str:
    return json.dumps(showback_document(showback), indent=2, ensure_ascii=False) + "\n"


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html(showback: Showback) -> str:
    title = html.escape(f"Showback {showback.period} ({showback.basis.value}) by {', '.join(showback.by)}")
    header, rows = _table_rows(showback, exact=False)
    totals = _html_table(_TOTAL_HEADER, _totals_rows(showback, exact=False))
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title></head><body><h1>{title}</h1>"
        f"{_html_table(header, rows)}<h2>Totals</h2>{totals}"
        + "".join(f"<p>{html.escape(n)}</p>" for n in [*_notes(showback), _DISPLAY_NOTE])
        + "</body></html>\n"
    )


def render_showback(showback: Showback, fmt: ReportFormat) -> str:
    """The showback as ``table``, ``csv``, ``json`` or ``html``; ``focus`` is written by ``render_focus``."""
    writers = {
        ReportFormat.TABLE: _text,
        ReportFormat.CSV: _csv,
        ReportFormat.JSON: _json,
        ReportFormat.HTML: _html,
    }
    writer = writers.get(fmt)
    if writer is None:
        raise ValueError(f"format {fmt.value!r} is written from allocation lines; call render_focus instead")
    return writer(showback)


#: The columns written by :func:`render_focus`, in order.
FOCUS_COLUMNS: tuple[str, ...] = (
    "BilledCost",
    "EffectiveCost",
    "BillingCurrency",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "PricingCategory",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "RegionId",
    "ServiceName",
    "SubAccountId",
    "SkuMeter",
    "Tags",
    "AllocatedMethodId",
    "AllocatedMethodDetails",
    "AllocatedTags",
    "x_ResourceGroupName",
    "x_SkuMeterCategory",
    "x_SkuMeterSubcategory",
    "x_SkuMeterId",
    "x_AllocationBucket",
    "x_AllocationReason",
    "x_AllocationBasis",
)

# Cost Management ChargeType → FOCUS ChargeCategory (reference/cost-export-columns.md §6.1).
_CHARGE_CATEGORY = {
    "usage": "Usage",
    "purchase": "Purchase",
    "credit": "Credit",
    "tax": "Tax",
    "unusedreservation": "Usage",
    "unusedsavingsplan": "Usage",
    "refund": "Purchase",
}
_PRICING_CATEGORY = {
    "ondemand": "Standard",
    "spot": "Dynamic",
    "reservation": "Committed",
    "savingsplan": "Committed",
}


def _stamp(day: dt.date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _focus_row(
    line: AllocationLine,
    rec: CostRecord,
    *,
    dimensions: Sequence[str],
    basis: Basis,
    period: tuple[dt.date, dt.date],
) -> list[str]:
    amount = _exact(line.amount_nanos)
    # A purchase whose row lost its ChargeType (Cost Management queries drop it) is still a purchase.
    default = "Purchase" if line.bucket is Bucket.PURCHASES else "Usage"
    charge = (rec.charge_type or default).replace(" ", "").lower()
    total = to_nanos(rec.cost)
    ratio = Decimal(line.amount_nanos) / Decimal(total) if total else Decimal(0)
    details = {"Elements": [{"AllocatedRatio": float(ratio), "UsageUnit": line.driver or line.bucket.value}]}
    allocated_tags = {d: v for d, v in zip(dimensions, line.dims, strict=True) if v}
    resource = rec.resource_id or ""
    return [
        amount if basis is Basis.ACTUAL else "",
        amount if basis is Basis.AMORTIZED else "",
        line.currency,
        _stamp(period[0]),
        _stamp(period[1]),
        _stamp(rec.billing_day),
        _stamp(rec.billing_day + dt.timedelta(days=1)),
        _CHARGE_CATEGORY.get(charge, "Adjustment"),
        "Correction" if charge == "refund" else "",
        rec.meter_name or rec.meter_category or "",
        _PRICING_CATEGORY.get((rec.pricing_model or "").lower(), ""),
        resource,
        resource.rsplit("/", 1)[-1],
        rec.resource_type or "",
        (rec.location or "").replace(" ", "").lower(),
        rec.service_name or "",
        rec.subscription_id or "",
        rec.meter_name or "",
        json.dumps(dict(rec.tags), sort_keys=True),
        line.rule,
        json.dumps(details, sort_keys=True),
        json.dumps(allocated_tags, sort_keys=True),
        rec.resource_group or "",
        rec.meter_category or "",
        rec.meter_subcategory or "",
        rec.meter_id or "",
        line.bucket.value,
        line.reason,
        basis.value,
    ]


def render_focus(result: AllocationResult, *, basis: Basis, period: tuple[dt.date, dt.date]) -> str:
    """Allocated cost as FOCUS CSV, one row per allocation line; the basis fills BilledCost or EffectiveCost.

    ``period`` is the billing period, start inclusive and end exclusive (FOCUS convention).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FOCUS_COLUMNS)
    for line in result.lines:
        rec = result.records[line.record]
        writer.writerow(_focus_row(line, rec, dimensions=result.dimensions, basis=basis, period=period))
    return buffer.getvalue()
