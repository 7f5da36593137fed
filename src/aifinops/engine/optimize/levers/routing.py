"""Routing: a use case whose tasks succeed as often on a cheaper model it already uses.

Detection: per use case, the models its tasks ran on (at least 20 tasks each); a model whose calls cost less
per token (input and output) and whose tasks succeed at a rate within 3 points of the dearer model's. Saving:
the dearer model's calls of the use case priced at the cheaper model's prices (``to_deployment``). Low
confidence, and said so: success rates compare tasks that were not randomly assigned.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from decimal import Decimal

from aifinops.engine.optimize.finding import MODEL_KINDS, Finding, OptimizeSettings, pct, samples
from aifinops.engine.optimize.scenario import ScenarioPart
from aifinops.engine.optimize.workload import CallGroup, Meters, Workload

__all__ = ["ID", "apply", "detect"]

ID = "routing"
_MIN_TASKS = 20
_COMPARABLE = Decimal("0.03")


def _rates(workload: Workload, use_case: str | None) -> dict[str | None, tuple[int, int]]:
    """Model → (succeeded, ended) tasks of the use case."""
    out: dict[str | None, list[int]] = defaultdict(lambda: [0, 0])
    for t in workload.tasks:
        if t.use_case == use_case and t.outcome is not None:
            out[t.model][1] += t.tasks
            out[t.model][0] += t.tasks if t.outcome == "succeeded" else 0
    return {m: (s, n) for m, (s, n) in out.items()}


def _cheaper(a: Meters, b: Meters) -> bool:
    """Whether ``b`` costs less than ``a`` on input and on output (both priced)."""
    if None in (a.input, a.output, b.input, b.output):
        return False
    assert a.input is not None and a.output is not None and b.input is not None and b.output is not None
    return b.input < a.input and b.output <= a.output


def detect(workload: Workload, settings: OptimizeSettings) -> list[Finding]:
    by_use_case: dict[str | None, dict[tuple[str | None, str | None], list[CallGroup]]] = defaultdict(dict)
    for g in workload.groups:
        if g.cell.kind in MODEL_KINDS and g.cell.use_case is not None and g.meters.input is not None:
            by_use_case[g.cell.use_case].setdefault((g.cell.model, g.cell.deployment), []).append(g)
    found = []
    for use_case, routes in by_use_case.items():
        rates = _rates(workload, use_case)
        for (model, deployment), groups in routes.items():
            for (other_model, other_deployment), others in routes.items():
                if other_model == model or not _cheaper(groups[0].meters, others[0].meters):
                    continue
                (ok, n), (ok2, n2) = rates.get(model, (0, 0)), rates.get(other_model, (0, 0))
                if n < _MIN_TASKS or n2 < _MIN_TASKS or Decimal(ok2) / n2 < Decimal(ok) / n - _COMPARABLE:
                    continue
                scope = {"use_case": use_case or "", "deployment": deployment or ""}
                found.append(
                    Finding(
                        lever=ID,
                        scope=scope,
                        evidence=(
                            f"{use_case} tasks on {other_model} succeed {pct(ok2, n2)} of the time "
                            f"({n2} tasks), on {model} {pct(ok, n)} ({n} tasks), and {other_model} costs "
                            "less per token",
                        ),
                        figures={
                            "tasks": {model: n, other_model: n2},
                            "succeeded": {model: ok, other_model: ok2},
                        },
                        samples=samples(groups),
                        action=f"route {use_case} from {deployment} to {other_deployment} ({other_model})",
                        policy={"route": {"use_case": use_case, "deployment": other_deployment}},
                        part=ScenarioPart(ID, scope, {"to_deployment": other_deployment or ""}),
                        confidence="low",
                        assumptions=(
                            "low confidence: tasks were not assigned to the models at random; A/B test first",
                            "the cheaper model needs as many tokens as the dearer one",
                        ),
                        effort="low",
                        risk="high",
                    )
                )
    return found


def apply(part: ScenarioPart, workload: Workload) -> Workload:
    target = part.settings["to_deployment"]
    meters = next(
        (g.meters for g in workload.groups if g.cell.deployment == target and g.cell.kind in MODEL_KINDS),
        None,
    )
    if meters is None:
        return workload
    groups = tuple(
        replace(g, meters=meters) if g.cell.kind in MODEL_KINDS and g.cell.matches(part.scope) else g
        for g in workload.groups
    )
    return replace(workload, groups=groups)
