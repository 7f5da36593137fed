"""Provisioning: pay-as-you-go or provisioned throughput (PTU), and how many units.

Detection: for each deployment of a model in the PTU table, the cost curve over unit counts (0, then the
minimum and every increment up to the busiest hour's need) from its hourly token profile, with the tokens
above capacity spilling over to pay-as-you-go; the cheapest unit count, the break-even utilisation, and for a
provisioned deployment its utilisation and the unit change. Saving: cost at today's units − cost at the
cheapest count (``ptu_units``).
"""

from __future__ import annotations

import math
from dataclasses import replace

from aifinops.engine.optimize.finding import Finding, OptimizeSettings
from aifinops.engine.optimize.ptu import Capacity, break_even, capacity_cost
from aifinops.engine.optimize.scenario import ScenarioPart
from aifinops.engine.optimize.workload import Workload

__all__ = ["ID", "apply", "curve", "detect"]

ID = "provisioning"
_MAX_POINTS = 80


def curve(cap: Capacity) -> list[tuple[int, int]]:
    """(units, nanos) at 0 units and from the minimum up, by the increment, to the busiest hour's need."""
    peak = max((t for t, _ in cap.hourly), default=0)
    top = max(cap.minimum, math.ceil(peak / cap.tokens_per_unit_hour) if cap.tokens_per_unit_hour else 0)
    counts = [0, *range(cap.minimum, top + cap.increment, cap.increment)][:_MAX_POINTS]
    if cap.units not in counts:
        counts.append(cap.units)
    return [(u, int(capacity_cost(cap, u))) for u in sorted(counts)]


def _utilisation(cap: Capacity) -> float | None:
    room = cap.units * cap.tokens_per_unit_hour * cap.hours
    return sum(t for t, _ in cap.hourly) / room if room else None


def detect(workload: Workload, settings: OptimizeSettings) -> list[Finding]:
    found = []
    for cap in workload.capacities.values():
        points = curve(cap)
        best, best_cost = min(points, key=lambda p: (p[1], p[0]))
        now = cap.units if cap.owned else 0
        if best == now:
            continue
        used, even = _utilisation(cap), break_even(cap)
        scope = {"deployment": cap.deployment}
        evidence = [
            f"{cap.deployment} ({cap.model}) costs least at {best} PTU "
            f"({best_cost / 1e9:,.2f} {cap.currency} in the window, spillover included) against {now} today",
        ]
        if used is not None:
            evidence.append(f"its {cap.units} PTU ran at {used * 100:.1f} % utilisation")
        if even is not None:
            evidence.append(f"a PTU pays for itself above {float(even) * 100:.0f} % sustained utilisation")
        found.append(
            Finding(
                lever=ID,
                scope=scope,
                evidence=tuple(evidence),
                figures={
                    "units": now,
                    "cheapest_units": best,
                    "utilisation": used,
                    "break_even_utilisation": None if even is None else float(even),
                    "curve": [
                        {"units": u, "cost": f"{c / 1e9:.2f}", "currency": cap.currency} for u, c in points
                    ],
                },
                samples=(),
                action=f"delete the PTU deployment {cap.deployment} and serve its calls pay-as-you-go"
                if best == 0
                else f"set {cap.deployment} to {best} PTU with spillover to pay-as-you-go (reserve the units "
                "that stay busy: a 1-month reservation costs about 36 % of the hourly price)",
                policy={"ptu_units": best},
                part=ScenarioPart(ID, scope, {"ptu_units": best}),
                confidence="medium",
                assumptions=(
                    "PTU at the price book's hourly price; tokens above capacity spill over to pay-as-you-go",
                    "throughput per PTU from the sizing table (or as configured)",
                ),
                effort="medium",
                risk="medium",
            )
        )
    return found


def apply(part: ScenarioPart, workload: Workload) -> Workload:
    units: int = part.settings["ptu_units"]
    deployment = part.scope.get("deployment")
    caps = dict(workload.capacities)
    for name, cap in caps.items():
        if deployment in (None, name) and all(getattr(cap, k, v) == v for k, v in part.scope.items()):
            caps[name] = replace(cap, units=units, owned=cap.owned or units > 0)
    return replace(workload, capacities=caps)
