"""Retries: attempts that failed and were billed, by cause (429, 5xx, timeout, content filter).

Detection: per use case, agent and deployment, the calls whose status is not ``ok``, by cause; the attempts
successful calls needed at p99 give the ``max_retries`` to set. Saving: the cost of the failed attempts of
the causes fixed (back off on ``retry-after``, more capacity, shorter timeouts on streamed output, prompts the
content filter accepts).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from aifinops.engine.optimize.finding import Finding, OptimizeSettings, by_scope, percentile, samples
from aifinops.engine.optimize.scenario import ScenarioPart
from aifinops.engine.optimize.workload import Workload, cost_nanos

__all__ = ["ID", "apply", "detect"]

ID = "retries"
_KEYS = ("use_case", "agent", "deployment")
_CAUSES = {"rate_limited": "429", "error": "5xx", "timeout": "timeout", "content_filtered": "content filter"}
_FIXES = {
    "rate_limited": "honour retry-after and spread the load (or add capacity)",
    "error": "retry 5xx once, then fail over to another deployment",
    "timeout": "stream the answer and lower the client timeout only after the first token",
    "content_filtered": "fix the prompts the content filter rejects instead of retrying them",
}


def detect(workload: Workload, settings: OptimizeSettings) -> list[Finding]:
    found = []
    for key, groups in by_scope(workload.groups, _KEYS).items():
        failed = [g for g in groups if g.status in _CAUSES and cost_nanos(g) > 0]
        if not failed:
            continue
        scope = dict(key)
        by_cause = Counter[str]()
        for g in failed:
            by_cause[g.status] += g.calls
        causes = sorted(by_cause)
        ok = [(g.attempt, g.calls) for g in groups if g.status == "ok"]
        max_retries = max(1, int(percentile(ok, 0.99)) - 1) if ok else 1
        calls = sum(g.calls for g in groups)
        evidence = ", ".join(f"{by_cause[c]} {_CAUSES[c]}" for c in causes)
        found.append(
            Finding(
                lever=ID,
                scope=scope,
                evidence=(
                    f"{sum(by_cause.values())} of {calls} calls were billed and failed ({evidence}), "
                    "each followed by a retry",
                ),
                figures={"calls": calls, "failed_by_cause": {_CAUSES[c]: by_cause[c] for c in causes}},
                samples=samples(failed),
                action="; ".join(_FIXES[c] for c in causes) + f"; cap retries at {max_retries}",
                policy={"max_retries": max_retries},
                part=ScenarioPart(ID, scope, {"fixed_causes": tuple(causes)}),
                confidence="medium",
                assumptions=(
                    "once the cause is fixed the first attempt succeeds, so the failed one is not paid",
                ),
                effort="medium",
                risk="low",
            )
        )
    return found


def apply(part: ScenarioPart, workload: Workload) -> Workload:
    fixed = set(part.settings["fixed_causes"])
    kept = tuple(g for g in workload.groups if not (g.status in fixed and g.cell.matches(part.scope)))
    return replace(workload, groups=kept)
