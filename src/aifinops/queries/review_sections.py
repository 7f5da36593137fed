"""The sections of the monthly cost review as blocks (sentences, tables, pictures) that the HTML and the
Markdown of :mod:`aifinops.queries.review_render` both show: each section of
:func:`aifinops.queries.review.review_document`, once. Amounts are rounded for reading, with currency
and basis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from aifinops.queries.estate_render import estate_mermaid, estate_svg
from aifinops.queries.svg_charts import hbar_chart, stacked_bar

__all__ = ["SECTION_TITLES", "Section", "review_sections"]

SECTION_TITLES = {
    "summary": "Summary: the bill and where it went",
    "cost_per_successful_task": "Cost per successful task",
    "budgets": "Budgets and alerts",
    "anomalies": "Anomalies",
    "recommendations": "Top recommendations",
    "allocation_quality": "Allocation quality",
    "data_quality": "Data quality",
    "changes": "What changed",
    "estate": "The AI estate",
    "cost_drivers": "Cost drivers per use case",
}


@dataclass
class Section:
    key: str
    title: str
    blocks: list[tuple[str, Any]] = field(
        default_factory=list
    )  # ("p", text) | ("table", (head, rows)) | ("svg", …)

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Any]], empty: str) -> None:
        self.blocks.append(("table", (list(header), [list(r) for r in rows])) if rows else ("p", empty))


def _num(value: str | None, places: str = "0.01") -> str:
    if value is None:
        return "—"
    return f"{Decimal(value).quantize(Decimal(places), rounding=ROUND_HALF_EVEN):,}"


def _pct(value: str | None) -> str:
    return "—" if value is None else f"{Decimal(value):.1%}"


_BUCKETS = ("allocated", "idle", "purchases", "unallocated")


def _summary(doc: dict[str, Any], s: Section) -> None:
    summary = doc["summary"]
    bill = (
        ", ".join(f"{_num(b['amount'])} {b['currency']} ({b['basis']})" for b in summary["bill"]) or "no bill"
    )
    est = ", ".join(f"{_num(b['amount'])} {b['currency']}" for b in summary["estimated"]) or "no priced usage"
    s.p(f"Billed in {doc['period']}: {bill}. Estimated from usage: {est} (basis estimated).")
    for basis in ("actual", "amortized"):
        for cur in sorted({b["currency"] for b in summary["allocation"] if b["basis"] == basis}):
            amounts = {
                b["bucket"]: Decimal(b["amount"])
                for b in summary["allocation"]
                if b["basis"] == basis and b["currency"] == cur
            }
            # Each bucket in one place and colour on both bases; a negative bucket (credits) is not drawn.
            parts = [(b, max(amounts.get(b, Decimal(0)), Decimal(0))) for b in _BUCKETS]
            title = f"Where the {basis} bill went ({cur}): the parts sum to the invoice"
            s.blocks.append(("svg", stacked_bar(parts, title=title, unit=cur)))
    if not summary["allocation"]:
        s.p(
            "No stored allocation for this month: run `aifinops report showback` or POST /api/allocation/run."
        )


def _kpis(doc: dict[str, Any], s: Section) -> None:
    rows = doc["cost_per_successful_task"]
    s.p(
        f"Basis {doc['basis']} (fully loaded where the month is allocated), against {doc['previous_period']} "
        "and the target configured under review.targets."
    )
    s.table(
        (
            "use case",
            "tasks",
            "success rate",
            "this month",
            "last month",
            "change",
            "target",
            "status",
            "estimated",
        ),
        [
            (
                r["use_case"],
                r["tasks"],
                _pct(r["success_rate"]),
                f"{_num(r['cost_per_successful_task'], '0.0001')} {r['currency']}",
                _num(r["previous"], "0.0001"),
                _pct(r["change"]),
                _num(r["target"], "0.0001"),
                r["status"].replace("_", " "),
                _num(r["estimated"], "0.0001"),
            )
            for r in rows
        ],
        "No task ended with an outcome this month.",
    )
    for cur in sorted({r["currency"] for r in rows}):
        bars = [
            (
                r["use_case"],
                Decimal(r["cost_per_successful_task"]),
                None if r["target"] is None else Decimal(r["target"]),
            )
            for r in rows
            if r["currency"] == cur and r["cost_per_successful_task"] is not None
        ]
        if bars:
            title = f"Cost per successful task, {doc['basis']} ({cur})"
            s.blocks.append(("svg", hbar_chart(bars, title=title, unit=cur)))


def _budgets(doc: dict[str, Any], s: Section) -> None:
    statuses, alerts = doc["budgets"]["statuses"], doc["budgets"]["alerts"]
    s.table(
        ("budget", "scope", "basis", "amount", "spent", "spent ÷ amount", "forecast", "crossed"),
        [
            (
                b["budget"],
                b["scope"],
                b["spend"]["basis"],
                f"{_num(b['amount']['amount'])} {b['amount']['currency']}",
                _num(b["spend"]["amount"]),
                _pct(b["ratio"]),
                _num((b["forecast"] or {}).get("amount")),
                b["crossed"],
            )
            for b in statuses
        ],
        "No budget covers this month.",
    )
    if statuses:
        bars = [(b["budget"], Decimal(b["ratio"]) * 100, Decimal(100)) for b in statuses]
        chart = hbar_chart(bars, title="Spent, % of each budget", unit="%", marker_label="100 %", places=1)
        s.blocks.append(("svg", chart))
    s.table(
        ("fired", "budget", "threshold", "ratio", "delivery"),
        [
            (a["fired_at"][:16], a["budget"], a["threshold"], _pct(a["ratio"]), a["delivery_status"])
            for a in alerts
        ],
        "No budget alert fired this month.",
    )


def _anomalies(doc: dict[str, Any], s: Section) -> None:
    s.table(
        ("day", "scope", "observed", "expected range", "score", "why"),
        [
            (
                a["at"],
                a["scope"],
                f"{_num(a['observed'])} {a['currency']}",
                f"{_num(a['expected_range']['low'])}–{_num(a['expected_range']['high'])}",
                _num(a["score"], "0.1"),
                a["explanation"],
            )
            for a in doc["anomalies"]
        ],
        "No day of the month left its use case's expected range (estimated basis).",
    )


def _basis(a: dict[str, str]) -> str:
    """`` (actual)`` beside an amount of a basis other than estimated (the review's default)."""
    return f" ({a['basis']})" if a.get("basis", "estimated") != "estimated" else ""


def _money(amounts: list[dict[str, str]], places: str = "0.01") -> str:
    return ", ".join(f"{_num(a['amount'], places)} {a['currency']}{_basis(a)}" for a in amounts) or "—"


def _per_task_change(per_task: dict[str, list[dict[str, str]]]) -> str:
    after = {(a["currency"], a.get("basis")): a["amount"] for a in per_task["after"]}
    return (
        ", ".join(
            f"{_num(b['amount'], '0.0001')} → {_num(after.get((b['currency'], b.get('basis'))), '0.0001')} "
            f"{b['currency']}{_basis(b)}"
            for b in per_task["before"]
        )
        or "—"
    )


def _recommendations(doc: dict[str, Any], s: Section) -> None:
    recs = doc["recommendations"]
    top, every = recs["top"], recs["all_applied"]
    s.p(
        f"The first {len(top)} of {recs['count']} recommendations in the levers' order, as "
        "/api/recommendations gives them for the month (per month; basis estimated, then fully loaded actual "
        "and amortized where the month is allocated). A recommendation's "
        "saving on its own may overlap another's; the stacked saving is what it adds after the ones above it."
    )
    s.table(
        (
            "#",
            "recommendation",
            "action",
            "saves alone",
            "saves stacked",
            "cost per successful task",
            "confidence · effort · risk",
        ),
        [
            (
                r["rank"],
                r["title"],
                r["action"],
                _money(r["savings_per_month"]),
                _money(r["stacked_savings_per_month"]),
                _per_task_change(r["cost_per_successful_task"]),
                f"{r['confidence']['level']} · {r['effort']} · {r['risk']}",
            )
            for r in top
        ],
        "No recommendation for this month.",
    )
    if recs["count"]:
        s.p(
            f"All {recs['count']} applied: {_money(every['before'])} → {_money(every['after'])} "
            f"(saves {_money(every['savings_per_month'])} per month); cost per successful task "
            f"{_per_task_change(every['cost_per_successful_task'])}."
        )


def _allocation_quality(doc: dict[str, Any], s: Section) -> None:
    q = doc["allocation_quality"]
    if not q["allocated"]:
        s.p("The month is not allocated: its unallocated share is unknown.")
    s.table(
        (
            "currency",
            "unallocated",
            "share",
            f"limit {_pct(q['max_unallocated_share'])}",
            "idle",
            "purchases",
            "total",
        ),
        [
            (
                u["currency"],
                _num(u["amount"]),
                _pct(u["share"]),
                "within" if u["within_limit"] else "over",
                _num(u["idle"]),
                _num(u["purchases"]),
                _num(u["total"]),
            )
            for u in q["unallocated"]
        ],
        "Nothing is unallocated.",
    )
    s.table(
        ("why unallocated", "amount"),
        [(r["reason"], f"{_num(r['amount'])} {r['currency']}") for r in q["reasons"]],
        "No unallocated cost.",
    )
    orphan = ", ".join(f"{_num(o['amount'])} {o['currency']}" for o in q["no_use_case"]) or "none"
    s.p(
        f"Allocated to an owner without a use case ({q['basis']}): {orphan}. "
        f"Resources without any owner tag: {len(q['untagged_resources'])}."
    )
    s.table(
        ("resource", "type", "missing"),
        [(g["name"], g["type"], g["missing"]) for g in q["ownership_gaps"]],
        "Every resource names its owner and cost center.",
    )


def _data_quality(doc: dict[str, Any], s: Section) -> None:
    q = doc["data_quality"]
    s.p(
        f"{q['unpriced_events']} of {q['events']} events unpriced ({_pct(q['unpriced_share'])}); "
        f"{q['meters_drifting']} meter-days drift from the bill beyond 5 %; "
        f"{q['meters_not_billed']} are not billed (yet); {len(q['price_mismatches'])} meters are billed at "
        "another price than the price book."
    )
    s.table(
        ("billed resource without telemetry", "billed", "days"),
        [
            (
                r["resource_id"].rsplit("/", 1)[-1] or "(no resource)",
                f"{_num(r['billed'])} {r['currency']}",
                r["days"],
            )
            for r in q["missing_telemetry"]
        ],
        "Every billed AI resource has usage telemetry.",
    )
    s.table(
        ("usage source", "last data", "stale"),
        [
            (u["source"], u["last_ingest_at"][:16], "stale" if u["stale"] else "fresh")
            for u in q["usage_sources"]
        ],
        "No usage source has delivered yet.",
    )
    s.table(
        ("billed cost source", "basis", "collected", "newest billing day", "month complete"),
        [
            (
                b["source"],
                b["basis"],
                b["collected_at"][:16],
                b["last_billing_day"],
                "yes" if b["complete"] else "no",
            )
            for b in q["billed_sources"]
        ],
        "Billed cost has never been collected.",
    )


def _changes(doc: dict[str, Any], s: Section) -> None:
    c = doc["changes"]
    if not c["previous_month_had_usage"]:
        s.p(f"{doc['previous_period']} has no usage: everything below is new this month.")
    rows = [(k.replace("_", " "), c["new"][k] or "—", c["gone"][k] or "—") for k in c["new"]]
    s.table(("what", "new this month", "gone since last month"), rows, "")
    s.table(
        ("price change", "meter", "before (per 1M)", "after (per 1M)", "effective"),
        [
            (
                f"{p['model']} {p['deployment_type'] or ''} {p['region'] or ''}".strip(),
                p["meter_kind"],
                _num(p["before_per_million"], "0.0001"),
                f"{_num(p['after_per_million'], '0.0001')} {p['currency']}",
                (p["effective_start"] or "")[:10],
            )
            for p in c["prices"]
        ],
        "No price in effect changed during the month.",
    )


def _estate(doc: dict[str, Any], s: Section) -> None:
    e = doc["estate"]
    s.p(
        f"{len(e['apps'])} apps, {len(e['use_cases'])} use cases, {len(e['deployments'])} deployments on "
        f"{len(e['accounts'])} accounts, {len(e['shared_resources'])} shared resources; "
        f"{len(e['unowned_resources'])} without an owner tag."
    )
    s.blocks.append(("svg", estate_svg(e)))
    s.blocks.append(("mermaid", estate_mermaid(e)))


def _drivers(doc: dict[str, Any], s: Section) -> None:
    d = doc["cost_drivers"]
    s.table(
        (
            "use case",
            "estimated",
            f"allocated ({d['basis']})",
            "top driver",
            "largest drivers",
            "retries",
            "cached share",
        ),
        [
            (
                u["use_case"],
                _num(u["estimated"]["amount"]),
                _num((u["allocated"] or {}).get("amount")),
                u["top_driver"],
                [
                    f"{x['driver']} {_num(x['amount'])}"
                    for x in sorted(u["drivers"], key=lambda x: -Decimal(x["amount"]))[:3]
                ],
                _num(u["of_which"]["retries"]["amount"]),
                _pct(u["cached_share"]),
            )
            for u in d["use_cases"]
        ],
        "No usage this month.",
    )


_BUILDERS = {
    "summary": _summary,
    "cost_per_successful_task": _kpis,
    "budgets": _budgets,
    "anomalies": _anomalies,
    "recommendations": _recommendations,
    "allocation_quality": _allocation_quality,
    "data_quality": _data_quality,
    "changes": _changes,
    "estate": _estate,
    "cost_drivers": _drivers,
}


def review_sections(doc: dict[str, Any]) -> list[Section]:
    """The sections of ``doc`` in order, each as blocks both formats render."""
    out = []
    unavailable = doc.get("unavailable", {})
    for key in doc["sections"]:
        section = Section(key, SECTION_TITLES[key])
        if key in unavailable:
            section.p(f"Unavailable for {doc['period']}: {unavailable[key]}.")
        else:
            _BUILDERS[key](doc, section)
        out.append(section)
    return out
