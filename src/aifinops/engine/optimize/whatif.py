"""The what-if: a scenario's parts applied in the levers' order to one workload, priced before and after.

Recommendations are priced by this same function: a recommendation's savings are the what-if of its own
scenario (standalone), or of its scenario after those of the recommendations before it (stacked).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from aifinops.engine.optimize import loaded
from aifinops.engine.optimize.levers import LEVERS
from aifinops.engine.optimize.scenario import LEVER_IDS, ScenarioPart
from aifinops.engine.optimize.workload import Workload, succeeded, workload_costs

__all__ = ["WhatIf", "apply_parts", "compare", "what_if"]

_ASSUMPTIONS = {
    "requests": "a repeated request inside a task reuses the first answer",
    "loops": "a task cut off by a step cap counts as failed",
    "retries": "once a retry cause is fixed the first attempt succeeds",
    "context": "input above a context limit is trimmed; cached tokens stay cached",
    "output": "output above max_tokens is not generated",
    "routing": "a routed call needs as many tokens on the cheaper model, which succeeds as often",
    "caching": "the stable prefix is served from the prompt cache at the cached-input price",
    "retrieval": "retrieved passages above max_retrieved_tokens are not returned; the model call of the same "
    "step reads that many fewer uncached input tokens and answers as well",
    "batch": "calls moved to Batch cost the Batch prices and are answered within 24 hours",
    "provisioning": "PTU hours at the price book's hourly price, reserved units at the reservation rate; "
    "tokens above capacity spill over to PAYG",
    "telemetry": "Log Analytics charges scale with the GB sampled in; retention within the included period "
    "is free; a table plan changes ingestion at the ratio of the plans' list prices",
}


_CAPACITY = (
    "provisioned deployments cost their PTU hours, not per token: reserved units at the reservation "
    "rate, the others at the price book's hourly price"
)
_RESERVED = (
    "reserved PTU cost the reservation rate of the amortized bill; a reserved unit's cost is sunk for the "
    "term: fewer reserved units save only from the reservation's renewal or exchange"
)


@dataclass(frozen=True, slots=True)
class WhatIf:
    """Estimated cost (nanos per currency) and successful tasks before and after a scenario, in ``scope``;
    ``loaded_before`` / ``loaded_after``: the fully loaded cost per basis (actual, amortized) and currency in
    the scope (its allocated share), empty when the window has no allocation; ``loaded_saved``: what the
    bill changes by on those bases — a pool shared by requests keeps its total, so the scope's share may
    fall by more than the bill does (the other owners pay the rest)."""

    before: Mapping[str, Decimal]
    after: Mapping[str, Decimal]
    succeeded_before: int
    succeeded_after: int
    assumptions: tuple[str, ...]
    loaded_before: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)
    loaded_after: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)
    loaded_saved: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)

    def costs(self, basis: str = "estimated", *, after: bool = False) -> Mapping[str, Decimal]:
        """Nanos per currency on ``basis`` (estimated, or a fully loaded one; empty when not known)."""
        if basis == "estimated":
            return self.after if after else self.before
        return (self.loaded_after if after else self.loaded_before).get(basis, {})

    def saved(self, basis: str = "estimated") -> dict[str, Decimal]:
        """What the scenario saves on ``basis``: the scope's estimated cost before − after; on a fully
        loaded basis, what the whole bill changes by."""
        if basis != "estimated":
            return dict(self.loaded_saved.get(basis, {}))
        return {c: v - self.after.get(c, Decimal(0)) for c, v in self.before.items()}

    def per_task(self, after: bool, basis: str = "estimated") -> dict[str, Decimal | None]:
        tasks = self.succeeded_after if after else self.succeeded_before
        return {c: (v / tasks if tasks else None) for c, v in self.costs(basis, after=after).items()}

    @property
    def bases(self) -> tuple[str, ...]:
        """The bases this what-if has figures on: estimated, then the fully loaded ones."""
        return ("estimated", *self.loaded_before)


def _label(scope: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in scope.items()) or "the whole estate"


def apply_parts(workload: Workload, parts: Sequence[ScenarioPart]) -> Workload:
    """``workload`` after each part, in the levers' order (stable within a lever)."""
    for part in sorted(parts, key=lambda p: LEVER_IDS.index(p.lever)):
        workload = LEVERS[part.lever].apply(part, workload)
    return workload


def compare(
    before: Workload, after: Workload, parts: Sequence[ScenarioPart], scope: Mapping[str, str] | None = None
) -> WhatIf:
    """Two states of one workload priced the same way, within ``scope`` (everything when None)."""
    use_cases: set[str | None] | None = None if not scope or "use_case" not in scope else {scope["use_case"]}
    loaded_before, loaded_after = loaded.loaded_costs(before, scope), loaded.loaded_costs(after, scope)
    bill_before, bill_after = loaded.loaded_costs(before), loaded.loaded_costs(after)
    bill_saved = {
        basis: {c: v - (bill_after or {}).get(basis, {}).get(c, Decimal(0)) for c, v in values.items()}
        for basis, values in (bill_before or {}).items()
    }
    wider = loaded.loaded_scope(before, scope)
    alloc = before.allocation
    read_over = (
        [
            f"fully loaded figures are of {_label(wider)}: the allocation is over {', '.join(alloc.keys)}, "
            "and a scenario changes only calls inside its scope"
        ]
        if alloc is not None and wider is not None and wider != dict(scope or {})
        else []
    )
    return WhatIf(
        before=workload_costs(before, scope),
        after=workload_costs(after, scope),
        succeeded_before=succeeded(before.tasks, use_cases),
        succeeded_after=succeeded(after.tasks, use_cases),
        assumptions=tuple(
            dict.fromkeys(
                [
                    *(_ASSUMPTIONS[p.lever] for p in parts if p.lever in _ASSUMPTIONS),
                    *(
                        _CAPACITY
                        for c in (*before.capacities.values(), *after.capacities.values())
                        if c.owned
                    ),
                    *(_RESERVED for c in before.capacities.values() if c.owned and c.reserved_units),
                    *before.assumptions,
                    *(loaded.ASSUMPTIONS if loaded_before is not None else ()),
                    *read_over,
                    *(before.allocation.assumptions if before.allocation is not None else ()),
                ]
            )
        ),
        loaded_before=loaded_before or {},
        loaded_after=loaded_after or {},
        loaded_saved=bill_saved,
    )


def what_if(
    workload: Workload, parts: Sequence[ScenarioPart], scope: Mapping[str, str] | None = None
) -> WhatIf:
    """Cost and successful tasks of ``workload`` before and after ``parts``."""
    return compare(workload, apply_parts(workload, parts), parts, scope)
