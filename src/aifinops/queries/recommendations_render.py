"""Recommendations and what-ifs as text: the lines the CLI's table, its Markdown and the demo print."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

__all__ = ["money_text", "recommendation_rows", "recommendations_markdown", "whatif_markdown"]

#: The columns of :func:`recommendation_rows`.
COLUMNS = ("#", "lever", "scope", "saves / month", "stacked / month", "action", "evidence")


def money_text(amounts: Iterable[Mapping[str, str]], places: int = 2) -> str:
    """``12.34 USD`` (amounts in several currencies or bases joined with commas; once a basis other than
    estimated is among them, each names its basis: ``12.34 USD estimated, 12.50 USD actual``; ``–`` for
    none)."""
    listed = list(amounts)
    named = any(a.get("basis", "estimated") != "estimated" for a in listed)
    return (
        ", ".join(
            f"{Decimal(a['amount']):,.{places}f} {a['currency']}"
            + (f" {a.get('basis', 'estimated')}" if named else "")
            for a in listed
        )
        or "–"
    )


def _scope(scope: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in scope.items()) or "everything"


def recommendation_rows(doc: Mapping[str, Any], top: int | None = None) -> list[tuple[str, ...]]:
    """One row of :data:`COLUMNS` per recommendation, in the levers' order."""
    recs = doc["recommendations"][:top] if top is not None else doc["recommendations"]
    return [
        (
            str(r["rank"]),
            r["lever"],
            _scope(r["scope"]),
            money_text(r["savings_per_month"]),
            money_text(r["stacked_savings_per_month"]),
            r["action"],
            "; ".join(r["evidence"]),
        )
        for r in recs
    ]


def whatif_markdown(doc: Mapping[str, Any]) -> str:
    """A what-if's before and after as a Markdown table, with its assumptions."""
    per_task = doc["cost_per_successful_task"]
    before, after = money_text(per_task["before"], 4), money_text(per_task["after"], 4)
    lines = [
        "| | before | after |",
        "|---|---:|---:|",
        f"| cost | {money_text(doc['before'])} | {money_text(doc['after'])} |",
        f"| successful tasks | {doc['succeeded_tasks']['before']} | {doc['succeeded_tasks']['after']} |",
        f"| cost per successful task | {before} | {after} |",
        "",
        f"Saves {money_text(doc['savings'])} ({money_text(doc['savings_per_month'])} per month).",
    ]
    lines += [f"- assumes {a}" for a in doc["assumptions"]]
    return "\n".join(lines) + "\n"


def recommendations_markdown(doc: Mapping[str, Any]) -> str:
    """The recommendations as Markdown: a summary table, then each one's evidence, action and confidence."""
    out = [f"# Recommendations, {doc['start'][:10]} to {doc['end'][:10]}", ""]
    if not doc["recommendations"]:
        return "\n".join([*out, "Nothing to change: no lever finds waste worth acting on.", ""])
    out += ["| " + " | ".join(COLUMNS[:6]) + " |", "|" + "---|" * 6]
    out += ["| " + " | ".join(row[:6]) + " |" for row in recommendation_rows(doc)]
    for r in doc["recommendations"]:
        out += ["", f"## {r['rank']}. {r['lever']}: {_scope(r['scope'])}", ""]
        out += [f"- evidence: {e}" for e in r["evidence"]]
        out.append(f"- sample tasks: {', '.join(r['sample_task_ids']) or '–'}")
        out.append(f"- action: {r['action']}" + (f" (policy `{r['policy']}`)" if r["policy"] else ""))
        out.append(
            f"- saves {money_text(r['savings'])} alone, {money_text(r['stacked_savings'])} after the ones "
            f"above; cost per successful task {money_text(r['cost_per_successful_task']['before'], 4)} → "
            f"{money_text(r['cost_per_successful_task']['after'], 4)}"
        )
        out.append(
            f"- confidence {r['confidence']['level']} ({'; '.join(r['confidence']['assumptions'])}); "
            f"effort {r['effort']}, risk {r['risk']}, {'reversible' if r['reversible'] else 'not reversible'}"
        )
    out += ["", "## All applied", "", whatif_markdown(doc["all_applied"])]
    return "\n".join(out)
