"""Retrieval quality: retrievals that put far more passages into the prompt than successful tasks need.

Detection: per use case (and agent), from retrievals that report ``retrieved_tokens`` (the tokens of the
passages they returned into the prompt), the budget B = what successful tasks' retrievals return at the
``retrieval_percentile`` (p95, rounded up to 256 tokens); a finding when retrievals of failed, abandoned or
escalated tasks exceed B at least ``retrieval_failed_factor`` (3) times as often as those of successful tasks
— large retrieved context goes with failure instead of helping. Saving: per step, the retrieved tokens above
B (Σ (returned per retrieval − B) × retrievals over B) taken from the uncached input of as many of the largest
model calls of that step, each keeping at least B, at their input price (``max_retrieved_tokens: B``: lower
top-k or cut passages to a budget). Retrievals are not removed: top-k changes their size, not their number.

Distinct from ``context``, which caps a call's whole input at 1.5 × the median call whatever it holds: this
lever reads what retrieval returned and what successful tasks needed of it. Repeated identical retrieval or
embedding queries inside a task are ``requests`` (their ``request_hash``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal

from aifinops.engine.optimize.finding import (
    MODEL_KINDS,
    Finding,
    OptimizeSettings,
    pct,
    percentile,
    scope_label,
)
from aifinops.engine.optimize.scenario import ScenarioPart
from aifinops.engine.optimize.workload import CallGroup, RetrievalGroup, Workload

__all__ = ["ID", "RETRIEVAL_KINDS", "apply", "detect"]

ID = "retrieval"
#: Kinds of calls that put retrieved passages into a prompt.
RETRIEVAL_KINDS = frozenset({"retrieval", "tool"})
_KEYS = ("use_case", "agent")
_ROUND = 256
_FAILED = frozenset({"failed", "abandoned", "escalated"})
_MIN_SUCCESSFUL = 20  # retrievals of successful tasks needed to say what they need


def _per_call(calls: int, tokens: int) -> float:
    return tokens / calls if calls else 0.0


def _over(groups: Sequence[RetrievalGroup], budget: int) -> tuple[int, int]:
    """Retrievals of ``groups`` and how many of them returned more than ``budget``."""
    return sum(r.calls for r in groups), sum(
        r.calls for r in groups if _per_call(r.calls, r.retrieved_tokens) > budget
    )


def _excess(workload: Workload, scope: dict[str, str], budget: int) -> int:
    """Tokens retrievals in ``scope`` returned above ``budget``."""
    return sum(
        max(0, g.retrieved_tokens - budget * g.calls)
        for g in workload.groups
        if g.cell.kind in RETRIEVAL_KINDS and g.cell.matches(scope) and g.retrieved_tokens
    )


def _priced(tokens: float | None, workload: Workload, scope: dict[str, str]) -> str:
    """`` (≈ 0.0123 USD of input)``: ``tokens`` at the scope's model calls' mean uncached input price."""
    paid: dict[str, list[Decimal]] = {}
    for g in workload.groups:
        if g.cell.kind in MODEL_KINDS and g.meters.input is not None and g.cell.matches(scope):
            acc = paid.setdefault(g.cell.currency, [Decimal(0), Decimal(0)])
            acc[0] += (g.input_tokens - g.cached_input_tokens) * g.meters.input
            acc[1] += g.input_tokens - g.cached_input_tokens
    if tokens is None or len(paid) != 1:
        return ""
    ((currency, (nanos, count)),) = paid.items()
    return f" (≈ {Decimal(tokens) * nanos / count / 1_000_000_000:.4f} {currency} of input)" if count else ""


def _finding(
    scope: dict[str, str], groups: Sequence[RetrievalGroup], workload: Workload, settings: OptimizeSettings
) -> Finding | None:
    ok = [r for r in groups if r.outcome == "succeeded"]
    bad = [r for r in groups if r.outcome in _FAILED]
    weighted = [(_per_call(r.calls, r.retrieved_tokens), r.calls) for r in ok]
    if sum(r.calls for r in ok) < _MIN_SUCCESSFUL or not bad:
        return None
    budget = max(_ROUND, math.ceil(percentile(weighted, settings.retrieval_percentile) / _ROUND) * _ROUND)
    ok_calls, ok_over = _over(ok, budget)
    bad_calls, bad_over = _over(bad, budget)
    floor = max(Decimal(ok_over) / ok_calls, Decimal(1) - Decimal(str(settings.retrieval_percentile)))
    excess = _excess(workload, scope, budget)
    if not bad_over or Decimal(bad_over) / bad_calls < settings.retrieval_failed_factor * floor or not excess:
        return None
    median = percentile(weighted, 0.5)
    succeeded_tasks = sum(
        t.tasks for t in workload.tasks if t.use_case == scope.get("use_case") and t.outcome == "succeeded"
    )
    per_task = sum(r.retrieved_tokens for r in ok) / succeeded_tasks if succeeded_tasks else None
    return Finding(
        lever=ID,
        scope=scope,
        evidence=(
            f"successful {scope_label(scope)} tasks' retrievals return ≤ {budget:,} tokens at p"
            f"{settings.retrieval_percentile * 100:g} (median {median:,.0f}); {pct(bad_over, bad_calls)} of "
            f"the retrievals of failed, abandoned or escalated tasks ({bad_over} of {bad_calls}) return "
            f"more, against {pct(ok_over, ok_calls)} of successful tasks'",
            f"{excess:,} retrieved tokens above {budget:,} go into prompts in the window"
            + ("" if per_task is None else f"; successful tasks read {per_task:,.0f} retrieved tokens each")
            + _priced(per_task, workload, scope),
        ),
        figures={
            "budget": budget,
            "median_retrieved": round(median),
            "retrievals": ok_calls + bad_calls,
            "failed_retrievals_over": bad_over,
            "failed_retrievals": bad_calls,
            "successful_retrievals_over": ok_over,
            "successful_retrievals": ok_calls,
            "excess_retrieved_tokens": excess,
        },
        samples=tuple(
            dict.fromkeys(t for r in sorted(bad, key=lambda r: -r.retrieved_tokens) for t in r.samples)
        )[:3],
        action=f"return at most {budget:,} tokens of passages per retrieval "
        f"(`max_retrieved_tokens: {budget}`): lower the retriever's top-k or cut the passages to that budget",
        policy=None,
        part=ScenarioPart(ID, scope, {"max_retrieved_tokens": budget}),
        confidence="medium" if ok_calls >= 200 else "low",
        assumptions=(
            f"answers are as good with at most {budget:,} retrieved tokens as successful tasks show at p"
            f"{settings.retrieval_percentile * 100:g}; check answer quality at the lower top-k first",
            "the retrieved passages are the uncached end of the prompt of the model call at the same step",
            "failed tasks stay failed: no success is counted from the change",
        ),
        effort="low",
        risk="medium",
    )


def detect(workload: Workload, settings: OptimizeSettings) -> list[Finding]:
    scopes: dict[tuple[tuple[str, str], ...], list[RetrievalGroup]] = defaultdict(list)
    for r in workload.retrievals:
        scopes[tuple(r.cell.scope(_KEYS).items())].append(r)
    found = []
    for key, groups in scopes.items():
        scope = dict(key)
        if "use_case" in scope and (finding := _finding(scope, groups, workload, settings)) is not None:
            found.append(finding)
    return found


#: Use case and step: a retrieval feeds the model calls of its step, whatever agent they name (an OTLP
#: retrieval span often names none).
_Step = tuple[str | None, int]


def _readers(groups: list[CallGroup], scope: Mapping[str, str], steps: set[_Step]) -> dict[_Step, list[int]]:
    """Indexes of the model calls in ``scope`` at each of ``steps``, the largest prompts first."""
    out: dict[_Step, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        key = (g.cell.use_case, g.step)
        if g.cell.kind in MODEL_KINDS and g.calls and key in steps and g.cell.matches(scope):
            out[key].append(i)
    for indexes in out.values():
        indexes.sort(key=lambda i: groups[i].input_tokens / groups[i].calls, reverse=True)
    return out


def apply(part: ScenarioPart, workload: Workload) -> Workload:
    """Retrievals return at most the budget; the excess leaves the prompts of the model calls of their step.

    Per step, the excess of the n retrievals over the budget is taken from the n largest model calls of that
    step (retrievals that return more make larger prompts), each keeping its cached input and at least the
    budget — so after a context limit L the saving is at most L − budget per retrieval over it.
    """
    budget: int = part.settings["max_retrieved_tokens"]
    excess: dict[_Step, int] = defaultdict(int)
    over: dict[_Step, int] = defaultdict(int)
    groups: list[CallGroup] = []
    for g in workload.groups:
        if (
            g.cell.kind in RETRIEVAL_KINDS
            and g.retrieved_tokens > budget * g.calls
            and g.cell.matches(part.scope)
        ):
            key = (g.cell.use_case, g.step)
            excess[key] += g.retrieved_tokens - budget * g.calls
            over[key] += g.calls
            g = replace(g, retrieved_tokens=budget * g.calls)
        groups.append(g)
    for key, indexes in _readers(groups, part.scope, set(excess)).items():
        left, calls = excess[key], over[key]
        for i in indexes:
            if left <= 0 or calls <= 0:
                break
            g = groups[i]
            n = min(g.calls, calls)
            uncached = (g.input_tokens - g.cached_input_tokens) * n // g.calls
            cut = max(0, min(left, uncached, g.input_tokens * n // g.calls - budget * n))
            groups[i] = replace(g, input_tokens=g.input_tokens - cut)
            left, calls = left - cut, calls - n
    return replace(workload, groups=tuple(groups))
