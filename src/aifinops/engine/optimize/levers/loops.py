"""Agent loops: tasks that run far more steps than the successful tasks of the same use case need.

Detection: per use case (and agent), the step count successful tasks need at the 99th percentile (N); tasks
that ran past N. Saving: the cost of every call at step N or later, with ``max_steps: N`` — a task cut off
by the cap counts as failed.
"""

from __future__ import annotations

from dataclasses import replace

from aifinops.engine.optimize.finding import (
    Finding,
    OptimizeSettings,
    by_scope,
    pct,
    percentile,
    samples,
    scope_label,
)
from aifinops.engine.optimize.scenario import ScenarioPart
from aifinops.engine.optimize.workload import TaskGroup, Workload

__all__ = ["ID", "apply", "detect"]

ID = "loops"
_KEYS = ("use_case", "agent")


def detect(workload: Workload, settings: OptimizeSettings) -> list[Finding]:
    found = []
    for key, groups in by_scope(workload.groups, _KEYS).items():
        scope = dict(key)
        use_case = scope.get("use_case")
        tasks = [t for t in workload.tasks if t.use_case == use_case and t.steps > 0]
        ok = [(t.steps, t.tasks) for t in tasks if t.outcome == "succeeded"]
        if use_case is None or not ok:
            continue
        cap = int(percentile(ok, settings.loop_percentile))
        total = sum(t.tasks for t in tasks)
        past = [t for t in tasks if t.steps > cap]
        n_past = sum(t.tasks for t in past)
        if not n_past:
            continue
        beyond = [g for g in groups if g.step >= cap]
        longest = max(t.steps for t in past)
        found.append(
            Finding(
                lever=ID,
                scope=scope,
                evidence=(
                    f"successful {scope_label(scope)} tasks need ≤ {cap} steps at p"
                    f"{settings.loop_percentile * 100:g}; {pct(n_past, total)} of tasks "
                    f"({n_past} of {total}) run past {cap}, up to {longest} steps",
                ),
                figures={"cap": cap, "tasks": total, "tasks_past_cap": n_past, "longest": longest},
                samples=samples(beyond),
                action=f"cap the steps of a task at {cap} in the gateway policy",
                policy={"max_steps": cap},
                part=ScenarioPart(ID, scope, {"max_steps": cap}),
                confidence="high" if len(ok) >= 3 else "medium",
                assumptions=(
                    "a task cut off by the step cap counts as failed",
                    "steps are numbered from the use case's first step",
                ),
                effort="low",
                risk="medium",
            )
        )
    return found


def _capped(t: TaskGroup, use_case: str | None, cap: int) -> TaskGroup:
    if t.use_case != use_case or t.steps <= cap:
        return t
    return replace(t, steps=cap, outcome="failed")


def apply(part: ScenarioPart, workload: Workload) -> Workload:
    cap: int = part.settings["max_steps"]
    groups = tuple(g for g in workload.groups if not (g.step >= cap and g.cell.matches(part.scope)))
    use_case = part.scope.get("use_case")
    tasks = workload.tasks
    if use_case is not None:
        tasks = tuple(_capped(t, use_case, cap) for t in tasks)
    return replace(workload, groups=groups, tasks=tasks)
