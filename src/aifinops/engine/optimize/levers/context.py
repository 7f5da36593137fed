"""Unnecessary context: calls that carry far more input than the scope's typical call.

Detection: per use case, agent and deployment, model calls whose input exceeds ``context_factor`` × the median
input of the scope's calls (rounded up to 1,024 tokens), and how input grows across steps. Saving: the input
above that limit (``context_tokens`` in the gateway policy; trim history and retrieved passages to fit).
"""

from __future__ import annotations

import math
from dataclasses import replace

from aifinops.engine.optimize.finding import (
    MODEL_KINDS,
    Finding,
    OptimizeSettings,
    by_scope,
    pct,
    percentile,
    samples,
    scope_label,
)
from aifinops.engine.optimize.scenario import ScenarioPart
from aifinops.engine.optimize.workload import CallGroup, Workload

__all__ = ["ID", "apply", "detect"]

ID = "context"
_KEYS = ("use_case", "agent", "deployment")


def _per_call(g: CallGroup) -> float:
    return g.input_tokens / g.calls if g.calls else 0.0


def _growth(groups: list[CallGroup]) -> float | None:
    """Mean input per call of the last step seen over the first (None with one step only)."""
    by_step: dict[int, list[int]] = {}
    for g in groups:
        if g.step >= 0:
            acc = by_step.setdefault(g.step, [0, 0])
            acc[0] += g.input_tokens
            acc[1] += g.calls
    if len(by_step) < 2:
        return None
    first, last = by_step[min(by_step)], by_step[max(by_step)]
    return (last[0] / last[1]) / (first[0] / first[1]) if first[0] else None


def detect(workload: Workload, settings: OptimizeSettings) -> list[Finding]:
    found = []
    for key, groups in by_scope(workload.groups, _KEYS, kinds=MODEL_KINDS).items():
        median = percentile([(_per_call(g), g.calls) for g in groups], 0.5)
        limit = max(1024, math.ceil(float(settings.context_factor) * median / 1024) * 1024)
        over = [g for g in groups if _per_call(g) > limit]
        if not over:
            continue
        scope = dict(key)
        calls, n_over = sum(g.calls for g in groups), sum(g.calls for g in over)
        growth = _growth(groups)
        grows = "" if growth is None else f"; input grows ×{growth:.1f} from the first step to the last"
        found.append(
            Finding(
                lever=ID,
                scope=scope,
                evidence=(
                    f"the median {scope_label(scope)} call sends {median:,.0f} input tokens; "
                    f"{pct(n_over, calls)} of calls ({n_over}) send more than {limit:,}{grows}",
                ),
                figures={"median_input": round(median), "limit": limit, "calls": calls, "calls_over": n_over},
                samples=samples(over),
                action=f"limit the context to {limit:,} tokens: trim history and retrieved passages to fit",
                policy={"context_tokens": limit},
                part=ScenarioPart(ID, scope, {"max_input_tokens": limit}),
                confidence="medium",
                assumptions=(
                    "the input above the limit is history or retrieved text the answer does not need",
                    "trimming keeps the cached prefix",
                ),
                effort="medium",
                risk="medium",
            )
        )
    return found


def _clip(g: CallGroup, limit: int) -> CallGroup:
    if g.cell.kind not in MODEL_KINDS or _per_call(g) <= limit:
        return g
    kept = limit * g.calls
    return replace(g, input_tokens=kept, cached_input_tokens=min(g.cached_input_tokens, kept))


def apply(part: ScenarioPart, workload: Workload) -> Workload:
    limit: int = part.settings["max_input_tokens"]
    groups = tuple(_clip(g, limit) if g.cell.matches(part.scope) else g for g in workload.groups)
    return replace(workload, groups=groups)
