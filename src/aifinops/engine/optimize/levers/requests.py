"""Unnecessary requests: an identical request (same ``request_hash``) repeated inside one task.

Detection: per use case, agent and deployment, the calls whose normalized request was already sent earlier in
the same task. Saving: those calls' cost (the answer of the first one is reused).
"""

from __future__ import annotations

from dataclasses import replace

from aifinops.engine.optimize.finding import Finding, OptimizeSettings, by_scope, pct, samples, scope_label
from aifinops.engine.optimize.scenario import ScenarioPart
from aifinops.engine.optimize.workload import Workload

__all__ = ["ID", "apply", "detect"]

ID = "requests"
_KEYS = ("use_case", "agent", "deployment")


def detect(workload: Workload, settings: OptimizeSettings) -> list[Finding]:
    found = []
    for key, groups in by_scope(workload.groups, _KEYS).items():
        dups = [g for g in groups if g.duplicate]
        if not dups:
            continue
        scope = dict(key)
        calls, repeated = sum(g.calls for g in groups), sum(g.calls for g in dups)
        found.append(
            Finding(
                lever=ID,
                scope=scope,
                evidence=(
                    f"{pct(repeated, calls)} of {scope_label(scope)} calls ({repeated} of {calls}) repeat an "
                    "identical request inside the same task",
                ),
                figures={"calls": calls, "repeated_calls": repeated},
                samples=samples(dups),
                action="reuse the answer of an identical request within a task (memoize the call in the "
                "application, or a response cache keyed by request hash and task)",
                policy=None,
                part=ScenarioPart(ID, scope, {"drop_duplicates": True}),
                confidence="high",
                assumptions=("the repeated request would get the same answer as the first one",),
                effort="low",
                risk="low",
            )
        )
    return found


def apply(part: ScenarioPart, workload: Workload) -> Workload:
    if not part.settings["drop_duplicates"]:
        return workload
    kept = tuple(g for g in workload.groups if not (g.duplicate and g.cell.matches(part.scope)))
    return replace(workload, groups=kept)
