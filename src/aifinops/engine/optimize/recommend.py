"""Recommendations: every lever's findings, priced by the what-if, kept when worth it, in the levers' order.

Standalone savings are the what-if of a recommendation's own scenario part; stacked savings are what its part
saves applied after the parts of every recommendation before it — so a cheaper model is priced on the calls
the loop cap and the retry fixes leave, never on calls that will not happen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from aifinops.engine.optimize.finding import Finding, OptimizeSettings, worth_it
from aifinops.engine.optimize.levers import LEVERS
from aifinops.engine.optimize.scenario import LEVER_IDS, ScenarioPart
from aifinops.engine.optimize.whatif import WhatIf, apply_parts, compare, what_if
from aifinops.engine.optimize.workload import Workload, workload_costs

__all__ = ["Recommendation", "recommend", "stacked_parts"]


@dataclass(frozen=True, slots=True)
class Recommendation:
    finding: Finding
    standalone: WhatIf  # in the finding's scope
    stacked: WhatIf  # in the finding's scope, after the recommendations before it

    @property
    def savings(self) -> dict[str, Decimal]:
        return self.standalone.saved()

    @property
    def stacked_savings(self) -> dict[str, Decimal]:
        return self.stacked.saved()


def _largest(saved: dict[str, Decimal]) -> Decimal:
    return max(saved.values(), default=Decimal(0))


def stacked_parts(recommendations: Sequence[Recommendation], index: int) -> tuple[ScenarioPart, ...]:
    """The scenario whose what-if gives recommendation ``index``'s stacked savings: every part up to it."""
    return tuple(r.finding.part for r in recommendations[: index + 1])


def recommend(
    workload: Workload, settings: OptimizeSettings | None = None, *, levers: Sequence[str] = LEVER_IDS
) -> list[Recommendation]:
    """The recommendations for ``workload``: lever order, then largest standalone saving first."""
    settings = settings or OptimizeSettings()
    kept: list[tuple[Finding, WhatIf]] = []
    for lever in (lv for lv in LEVER_IDS if lv in levers and lv in LEVERS):
        found = []
        for finding in LEVERS[lever].detect(workload, settings):
            alone = what_if(workload, [finding.part], finding.scope)
            scope_cost = workload_costs(workload, finding.scope)
            if any(worth_it(s, scope_cost.get(c, Decimal(0)), settings) for c, s in alone.saved().items()):
                found.append((finding, alone))
        kept += sorted(found, key=lambda fa: _largest(fa[1].saved()), reverse=True)
    out: list[Recommendation] = []
    state = workload
    for finding, alone in kept:
        nxt = apply_parts(state, [finding.part])
        stacked = compare(state, nxt, [finding.part], finding.scope)
        out.append(Recommendation(finding, alone, stacked))
        state = nxt
    return out
