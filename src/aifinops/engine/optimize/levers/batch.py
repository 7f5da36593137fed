"""Batch: work that nobody waits for, sent to a deployment priced for people who do.

Detection: per use case and deployment on a standard (interactive) deployment whose model has Batch prices,
a use case or app configured as not interactive (``batchable``), or whose traffic shape says so: as many calls
per weekend day as per weekday (``weekend_ratio``; people work weekdays, schedules run every day). Saving:
the same calls at the Batch prices (50 % off input, cached input and output), answered within 24 hours.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from decimal import Decimal

from aifinops.engine.optimize.finding import (
    MODEL_KINDS,
    Finding,
    OptimizeSettings,
    by_scope,
    samples,
    scope_label,
)
from aifinops.engine.optimize.scenario import ScenarioPart
from aifinops.engine.optimize.workload import CallGroup, Workload

__all__ = ["ID", "apply", "detect", "weekend_ratio"]

ID = "batch"
_KEYS = ("use_case", "deployment")
_STANDARD = frozenset({"global_standard", "data_zone_standard", "standard"})


def weekend_ratio(per_day: dict[int, int] | None) -> Decimal | None:
    """Calls per weekend day over calls per weekday (days since the epoch; None without both kinds of day).

    >>> weekend_ratio({0: 10, 1: 10, 2: 10})  # Thursday 1 January 1970, Friday, Saturday
    Decimal('1')
    """
    totals: dict[bool, list[int]] = defaultdict(list)
    for day, calls in (per_day or {}).items():
        totals[(day + 3) % 7 >= 5].append(calls)  # 1970-01-01 was a Thursday
    if not totals[True] or not totals[False]:
        return None
    weekend = Decimal(sum(totals[True])) / len(totals[True])
    weekday = Decimal(sum(totals[False])) / len(totals[False])
    return weekend / weekday if weekday else None


def _why(groups: list[CallGroup], workload: Workload, settings: OptimizeSettings) -> str | None:
    cell = groups[0].cell
    if cell.use_case in settings.batchable or cell.app in settings.batchable:
        return f"{cell.use_case or cell.app} is configured as not interactive"
    ratio = weekend_ratio(dict(workload.daily_calls.get(cell.use_case, {})))
    if ratio is not None and ratio >= settings.weekend_ratio:
        return f"it runs {ratio:.2f}× as many calls per weekend day as per weekday: a schedule, not people"
    return None


def detect(workload: Workload, settings: OptimizeSettings) -> list[Finding]:
    found = []
    for key, groups in by_scope(workload.groups, _KEYS, kinds=MODEL_KINDS).items():
        if any(g.cell.deployment_type not in _STANDARD or g.batch_meters is None for g in groups):
            continue
        why = _why(groups, workload, settings)
        if why is None:
            continue
        scope = dict(key)
        calls = sum(g.calls for g in groups)
        found.append(
            Finding(
                lever=ID,
                scope=scope,
                evidence=(f"{scope_label(scope)} sends {calls} calls to a standard deployment; {why}",),
                figures={"calls": calls, "deployment_type": groups[0].cell.deployment_type},
                samples=samples(groups),
                action=f"send {scope_label(scope)} through a Global Batch deployment of "
                f"{groups[0].cell.model} (JSONL files, 24-hour turnaround)",
                policy={"route": {"deployment_type": "global_batch", "model": groups[0].cell.model}},
                part=ScenarioPart(ID, scope, {"to_batch": True}),
                confidence="medium" if "configured" in why else "low",
                assumptions=("nobody waits for these answers: a 24-hour turnaround is acceptable",),
                effort="medium",
                risk="low",
            )
        )
    return found


def apply(part: ScenarioPart, workload: Workload) -> Workload:
    if not part.settings["to_batch"]:
        return workload
    groups = tuple(
        replace(g, meters=g.batch_meters)
        if g.batch_meters is not None and g.cell.kind in MODEL_KINDS and g.cell.matches(part.scope)
        else g
        for g in workload.groups
    )
    return replace(workload, groups=groups)
