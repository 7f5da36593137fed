"""Recommendations and what-ifs as JSON, every amount a money object with its currency and basis: the
estimated basis, then — where the period's allocation covers the scope — the fully loaded actual and
amortized bases (see :mod:`aifinops.engine.optimize.loaded`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from aifinops.domain import Basis, plain
from aifinops.engine.optimize.recommend import Recommendation, stacked_parts
from aifinops.engine.optimize.scenario import ScenarioPart
from aifinops.engine.optimize.whatif import WhatIf
from aifinops.engine.optimize.workload import Workload

__all__ = ["basis_of", "recommendation_json", "whatif_json"]

_HOURS_PER_MONTH = Decimal(730)


def _money(nanos: Decimal, currency: str, basis: Basis = Basis.ESTIMATED) -> dict[str, str]:
    amount = (nanos / 1_000_000_000).quantize(Decimal("0.000001"))
    return {"amount": plain(amount), "currency": currency, "basis": basis.value}


def _amounts(values: Mapping[str, Decimal | None], basis: Basis = Basis.ESTIMATED) -> list[dict[str, str]]:
    return [_money(v, c, basis) for c, v in sorted(values.items()) if v is not None]


def _per_month(workload: Workload, values: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Amounts of the window per month: a window of 28 to 31 days is a month; others are scaled to 730 h."""
    hours = Decimal((workload.end - workload.start).total_seconds()) / 3600
    if not hours or 28 * 24 <= hours <= 31 * 24:
        return dict(values)
    return {c: v * _HOURS_PER_MONTH / hours for c, v in values.items()}


def basis_of(parts: Sequence[ScenarioPart]) -> Basis:
    """The basis of the what-if's own figures: actual when every part acts on telemetry, whose cost comes
    from the bill; estimated otherwise."""
    return Basis.ACTUAL if parts and all(p.lever == "telemetry" for p in parts) else Basis.ESTIMATED


def _bases(result: WhatIf, own: Basis) -> list[tuple[str, Basis]]:
    """(the what-if's key, the basis shown) of each basis: its own figures first, then the fully loaded."""
    return [(b, own if b == "estimated" else Basis(b)) for b in result.bases if b == "estimated" or b != own]


def _every(
    result: WhatIf, own: Basis, values: Callable[[str], Mapping[str, Decimal | None]]
) -> list[dict[str, str]]:
    return [money for key, shown in _bases(result, own) for money in _amounts(values(key), shown)]


def _month(workload: Workload, result: WhatIf, key: str) -> dict[str, Decimal]:
    return _per_month(workload, result.saved(key))


def whatif_json(result: WhatIf, workload: Workload, basis: Basis = Basis.ESTIMATED) -> dict[str, Any]:
    """A what-if's cost, savings and cost per successful task on every basis it has."""
    return {
        "bases": [shown.value for _, shown in _bases(result, basis)],
        "before": _every(result, basis, lambda b: result.costs(b)),
        "after": _every(result, basis, lambda b: result.costs(b, after=True)),
        "savings": _every(result, basis, result.saved),
        "savings_per_month": _every(result, basis, lambda b: _month(workload, result, b)),
        "succeeded_tasks": {"before": result.succeeded_before, "after": result.succeeded_after},
        "cost_per_successful_task": {
            "before": _every(result, basis, lambda b: result.per_task(after=False, basis=b)),
            "after": _every(result, basis, lambda b: result.per_task(after=True, basis=b)),
        },
        "assumptions": list(result.assumptions),
    }


def recommendation_json(
    rank: int, rec: Recommendation, recs: Sequence[Recommendation], workload: Workload
) -> dict[str, Any]:
    """One recommendation as every reader shows it: savings alone and stacked on every basis it has."""
    f = rec.finding
    basis = basis_of([f.part])
    alone, stacked = rec.standalone, rec.stacked
    stacked_month = _every(stacked, basis, lambda b: _month(workload, stacked, b))
    return {
        "rank": rank,
        "title": f"{f.lever}: " + (", ".join(f"{k}={v}" for k, v in f.scope.items()) or "everything"),
        "detail": f.action,
        "headline": stacked_month[0]
        if stacked_month
        else None,  # stacked per month, first basis and currency
        "lever": f.lever,
        "scope": dict(f.scope),
        "evidence": list(f.evidence),
        "figures": dict(f.figures),
        "sample_task_ids": list(f.samples),
        "action": f.action,
        "policy": None if f.policy is None else dict(f.policy),
        "bases": [shown.value for _, shown in _bases(alone, basis)],
        "savings": _every(alone, basis, alone.saved),
        "savings_per_month": _every(alone, basis, lambda b: _month(workload, alone, b)),
        "stacked_savings": _every(stacked, basis, stacked.saved),
        "stacked_savings_per_month": stacked_month,
        "scope_cost": _every(alone, basis, lambda b: alone.costs(b)),
        "cost_per_successful_task": {
            "before": _every(alone, basis, lambda b: alone.per_task(after=False, basis=b)),
            "after": _every(alone, basis, lambda b: alone.per_task(after=True, basis=b)),
        },
        "confidence": {"level": f.confidence, "assumptions": list(f.assumptions)},
        "effort": f.effort,
        "risk": f.risk,
        "reversible": f.reversible,
        "window": {"start": workload.start.isoformat(), "end": workload.end.isoformat()},
        "scenario": [f.part.as_json()],
        "stacked_scenario": [p.as_json() for p in stacked_parts(recs, rank - 1)],
    }
