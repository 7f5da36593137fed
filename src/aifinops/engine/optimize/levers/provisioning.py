"""Provisioning: pay-as-you-go or provisioned throughput (PTU), and how many units.

Detection: for each deployment of a model in the PTU table, the cost curve over unit counts (0, then the
minimum and every increment up to the busiest hour's need) from its hourly token profile, with the tokens
above capacity spilling over to pay-as-you-go; the cheapest unit count, the break-even utilisation, and for a
provisioned deployment its utilisation and the unit change. Saving: cost at today's units − cost at the
cheapest count (``ptu_units``), reserved units at the reservation rate and the rest at the hourly price.
A reserved unit is paid for its term: the part of the saving that comes from fewer reserved units arrives at
the reservation's renewal or exchange, and the action says so.
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


def _action(cap: Capacity, best: int) -> str:
    change = (
        f"delete the PTU deployment {cap.deployment} and serve its calls pay-as-you-go"
        if best == 0
        else f"set {cap.deployment} to {best} PTU with spillover to pay-as-you-go"
    )
    reserved = cap.reserved_units if cap.owned and cap.reservation_hour_nanos is not None else 0
    if reserved > best:
        return (
            f"{change} when its reservation renews (or exchange it): lower the reservation from {reserved} "
            f"to {best} PTU — the {reserved} reserved units are paid for the term whether deployed or not"
        )
    if best > reserved:
        return (
            f"{change} (reserve the units that stay busy: a 1-month reservation costs about 36 % of the "
            "hourly price)"
        )
    return change


def _assumptions(cap: Capacity) -> tuple[str, ...]:
    out = [
        "PTU at the price book's hourly price; tokens above capacity spill over to pay-as-you-go",
        "throughput per PTU from the sizing table (or as configured)",
    ]
    if cap.reserved_units and cap.reservation_hour_nanos is not None:
        out.append(
            f"{cap.reserved_units} reserved units at the reservation rate of the amortized bill; a reserved "
            "unit's cost is sunk for the term: the saving on reserved units comes at renewal or exchange "
            "(actual cost changes then; estimated and amortized cost show it per month)"
        )
    return tuple(out)


def _figures(cap: Capacity, now: int, best: int, points: list[tuple[int, int]]) -> dict[str, object]:
    used, even = _utilisation(cap), break_even(cap)
    reserved_even = break_even(cap, reserved=True)
    rate = cap.reservation_hour_nanos
    return {
        "units": now,
        "cheapest_units": best,
        "utilisation": used,
        "break_even_utilisation": None if even is None else float(even),
        "reserved_units": cap.reserved_units,
        "reservation_rate": None
        if rate is None
        else {"amount": f"{rate / 10**9:.9f}", "currency": cap.currency, "per": "unit-hour"},
        "break_even_utilisation_reserved": None if reserved_even is None else float(reserved_even),
        "curve": [{"units": u, "cost": f"{c / 1e9:.2f}", "currency": cap.currency} for u, c in points],
    }


def detect(workload: Workload, settings: OptimizeSettings) -> list[Finding]:
    found = []
    for cap in workload.capacities.values():
        points = curve(cap)
        best, best_cost = min(points, key=lambda p: (p[1], p[0]))
        now = cap.units if cap.owned else 0
        if best == now:
            continue
        used, even = _utilisation(cap), break_even(cap)
        reserved_even = break_even(cap, reserved=True)
        scope = {"deployment": cap.deployment}
        evidence = [
            f"{cap.deployment} ({cap.model}) costs least at {best} PTU "
            f"({best_cost / 1e9:,.2f} {cap.currency} in the window, spillover included) against {now} today",
        ]
        if used is not None:
            evidence.append(f"its {cap.units} PTU ran at {used * 100:.1f} % utilisation")
        if even is not None:
            evidence.append(f"a PTU pays for itself above {float(even) * 100:.0f} % sustained utilisation")
        if reserved_even is not None:
            evidence.append(
                f"a reserved PTU above {float(reserved_even) * 100:.0f} % ({cap.reserved_units} of its units "
                "are reserved)"
            )
        found.append(
            Finding(
                lever=ID,
                scope=scope,
                evidence=tuple(evidence),
                figures=_figures(cap, now, best, points),
                samples=(),
                action=_action(cap, best),
                policy={"ptu_units": best},
                part=ScenarioPart(ID, scope, {"ptu_units": best}),
                confidence="medium",
                assumptions=_assumptions(cap),
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
