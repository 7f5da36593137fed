"""Output length: calls that run to their length limit or far past what the scope's answers need.

Detection: per use case, agent and deployment, the share of model calls stopped by the length limit
(``finish_reason = length``) and the output of calls that stopped on their own at p99 — the ``max_tokens`` to
set (rounded up to 128). Saving: the output above it.
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

ID = "output"
_KEYS = ("use_case", "agent", "deployment")


def _per_call(g: CallGroup) -> float:
    return g.output_tokens / g.calls if g.calls else 0.0


def detect(workload: Workload, settings: OptimizeSettings) -> list[Finding]:
    found = []
    for key, groups in by_scope(workload.groups, _KEYS, kinds=MODEL_KINDS).items():
        natural = [(_per_call(g), g.calls) for g in groups if not g.length_stop and g.status == "ok"]
        if not natural:
            continue
        limit = max(128, math.ceil(percentile(natural, settings.output_percentile) / 128) * 128)
        over = [g for g in groups if _per_call(g) > limit]
        if not over:
            continue
        scope = dict(key)
        calls = sum(g.calls for g in groups)
        stopped = sum(g.calls for g in groups if g.length_stop)
        found.append(
            Finding(
                lever=ID,
                scope=scope,
                evidence=(
                    f"{pct(stopped, calls)} of {scope_label(scope)} calls ({stopped} of {calls}) stop at the "
                    f"length limit; calls that end on their own need ≤ {limit:,} output tokens at p"
                    f"{settings.output_percentile * 100:g}; {sum(g.calls for g in over)} calls write more",
                ),
                figures={"calls": calls, "length_stops": stopped, "limit": limit},
                samples=samples(over),
                action=f"set max_tokens (max_completion_tokens on reasoning models) to {limit:,}",
                policy={"max_tokens": limit},
                part=ScenarioPart(ID, scope, {"max_output_tokens": limit}),
                confidence="medium" if stopped else "low",
                assumptions=("output above the limit adds nothing the task needs",),
                effort="low",
                risk="medium",
            )
        )
    return found


def _clip(g: CallGroup, limit: int) -> CallGroup:
    if g.cell.kind not in MODEL_KINDS or _per_call(g) <= limit:
        return g
    return replace(g, output_tokens=limit * g.calls)


def apply(part: ScenarioPart, workload: Workload) -> Workload:
    limit: int = part.settings["max_output_tokens"]
    groups = tuple(_clip(g, limit) if g.cell.matches(part.scope) else g for g in workload.groups)
    return replace(workload, groups=groups)
