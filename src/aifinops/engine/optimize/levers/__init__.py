"""One module per lever, each with ``detect`` (findings from a workload) and ``apply`` (a scenario part's
change to a workload); :data:`LEVERS` registers them in the order their savings are computed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aifinops.engine.optimize.finding import Finding, OptimizeSettings
from aifinops.engine.optimize.levers import (
    batch,
    caching,
    context,
    loops,
    output,
    provisioning,
    requests,
    retries,
    retrieval,
    routing,
    telemetry,
)
from aifinops.engine.optimize.scenario import ScenarioPart
from aifinops.engine.optimize.workload import Workload

__all__ = ["LEVERS", "Lever"]


@dataclass(frozen=True, slots=True)
class Lever:
    id: str
    detect: Callable[[Workload, OptimizeSettings], list[Finding]]
    apply: Callable[[ScenarioPart, Workload], Workload]


LEVERS: dict[str, Lever] = {
    m.ID: Lever(m.ID, m.detect, m.apply)
    for m in (
        requests,
        loops,
        retries,
        context,
        output,
        routing,
        caching,
        retrieval,
        batch,
        provisioning,
        telemetry,
    )
}
