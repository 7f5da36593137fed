"""What a lever finds: the scope, the evidence in figures, the action and the scenario that prices it."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aifinops.engine.optimize.scenario import ScenarioPart
from aifinops.engine.optimize.workload import CallGroup, cost_nanos

__all__ = [
    "MODEL_KINDS",
    "Finding",
    "OptimizeSettings",
    "by_scope",
    "pct",
    "percentile",
    "samples",
    "scope_label",
    "worth_it",
]

#: Kinds of calls a model answers (what context, output and routing levers look at).
MODEL_KINDS = frozenset({"chat", "responses", "completion"})


@dataclass(frozen=True, slots=True)
class OptimizeSettings:
    """Thresholds of the levers (configurable)."""

    min_share: Decimal = Decimal("0.02")  # a finding saves at least this share of its scope's cost …
    min_nanos: Decimal = Decimal(1_000_000)  # … and at least this (nanos of the currency) in the window
    loop_percentile: float = 0.99  # the step count successful tasks need
    context_factor: Decimal = Decimal("1.5")  # context limit = factor × median input of the scope's calls
    output_percentile: float = 0.99  # max_tokens = this percentile of outputs that stopped on their own
    retrieval_percentile: float = 0.95  # retrieval budget = this percentile of successful tasks' retrievals
    # a retrieval finding needs failed tasks' retrievals over the budget this many times as often
    retrieval_failed_factor: Decimal = Decimal(3)
    batchable: frozenset[str] = frozenset()  # use cases or apps configured as not interactive
    # calls per weekend day ÷ per weekday at or above which a use case is not interactive
    weekend_ratio: Decimal = Decimal("0.8")
    ptu_throughput: Mapping[str, int] = field(default_factory=dict)  # model or deployment → input TPM per PTU
    telemetry_kb_per_call: Decimal = Decimal(3)  # telemetry a model call's spans need (KB of billed size)


@dataclass(frozen=True, slots=True)
class Finding:
    lever: str
    scope: Mapping[str, str]
    evidence: tuple[str, ...]
    figures: Mapping[str, Any]
    samples: tuple[str, ...]
    action: str
    policy: Mapping[str, Any] | None
    part: ScenarioPart
    confidence: str  # high, medium, low
    assumptions: tuple[str, ...]
    effort: str
    risk: str
    reversible: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)


def by_scope(
    groups: Iterable[CallGroup], keys: Sequence[str], *, kinds: frozenset[str] | None = None
) -> dict[tuple[tuple[str, str], ...], list[CallGroup]]:
    """Groups under each scope (the values of ``keys`` they carry), optionally only of ``kinds``."""
    out: dict[tuple[tuple[str, str], ...], list[CallGroup]] = defaultdict(list)
    keyed: dict[int, tuple[tuple[str, str], ...]] = {}  # id of a cell (alive while its groups are) → key
    for g in groups:
        if kinds is None or g.cell.kind in kinds:
            key = keyed.get(id(g.cell))
            if key is None:
                key = keyed[id(g.cell)] = tuple(g.cell.scope(keys).items())
            out[key].append(g)
    return dict(out)


def percentile(weighted: Iterable[tuple[float, int]], q: float) -> float:
    """The ``q`` quantile of values given with their weights (lower value at ties).

    >>> percentile([(1, 50), (4, 49), (9, 1)], 0.99)
    4
    """
    items = sorted((v, w) for v, w in weighted if w > 0)
    total = sum(w for _, w in items)
    if not total:
        return 0.0
    need, seen = math.ceil(q * total), 0
    for value, weight in items:
        seen += weight
        if seen >= need:
            return value
    return items[-1][0]


def pct(part: float | Decimal, whole: float | Decimal) -> str:
    """A share as text with one decimal: ``11.8 %``."""
    return f"{(Decimal(part) / Decimal(whole) * 100 if whole else Decimal(0)):.1f} %"


def samples(groups: Iterable[CallGroup], n: int = 3) -> tuple[str, ...]:
    """A few task ids of the groups, the costliest groups first."""
    seen: list[str] = []
    for g in sorted(groups, key=cost_nanos, reverse=True):
        for task in g.samples:
            if task not in seen:
                seen.append(task)
        if len(seen) >= n:
            break
    return tuple(seen[:n])


def scope_label(scope: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in scope.items()) or "everything"


def worth_it(saved: Decimal, whole: Decimal, settings: OptimizeSettings) -> bool:
    """Whether a saving is large enough to recommend (no noise findings on a clean month)."""
    return saved > 0 and saved >= settings.min_nanos and whole > 0 and saved / whole >= settings.min_share
