"""Caching: prompts whose stable prefix is not served from the prompt cache.

Detection: per use case and deployment, model calls of 1,024 input tokens or more (the prompt-caching minimum)
of which almost nothing (under 10 %) is served from the cache. The stable prefix is taken as the smallest
prompt the scope sends (rounded down to 128 tokens, the cache's increment): every call carries at least its
system prompt, tools and instructions, and no call sends less than that. Saving: the prefix of every call
billed at the cached-input price instead of the input price — ``cached_share`` = prefix × calls ÷ input
(order the prompt stable-first and set a ``prompt_cache_key``).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from aifinops.engine.optimize.finding import (
    MODEL_KINDS,
    Finding,
    OptimizeSettings,
    by_scope,
    pct,
    samples,
    scope_label,
)
from aifinops.engine.optimize.scenario import ScenarioPart
from aifinops.engine.optimize.workload import CallGroup, Workload

__all__ = ["ID", "apply", "detect"]

ID = "caching"
_KEYS = ("use_case", "deployment")
_MINIMUM = 1024  # prompts below this are never cached
_INCREMENT = 128
_CACHING_WORKS = Decimal("0.10")  # a scope caching this share of its input already uses the cache


def _per_call(g: CallGroup) -> float:
    return g.input_tokens / g.calls if g.calls else 0.0


def detect(workload: Workload, settings: OptimizeSettings) -> list[Finding]:
    found = []
    for key, groups in by_scope(workload.groups, _KEYS, kinds=MODEL_KINDS).items():
        sized = [g for g in groups if g.calls and g.status == "ok"]
        if not sized or any(g.meters.cached_input is None or g.meters.input is None for g in sized):
            continue
        prefix = int(min(_per_call(g) for g in sized)) // _INCREMENT * _INCREMENT
        inputs = sum(g.input_tokens for g in sized)
        cached = sum(g.cached_input_tokens for g in sized)
        if prefix < _MINIMUM or not inputs:
            continue
        calls = sum(g.calls for g in sized)
        share = (Decimal(prefix * calls) / inputs).quantize(Decimal("0.0001"))
        if Decimal(cached) / inputs >= _CACHING_WORKS or share <= Decimal(cached) / inputs:
            continue
        scope = dict(key)
        found.append(
            Finding(
                lever=ID,
                scope=scope,
                evidence=(
                    f"{scope_label(scope)} serves {pct(cached, inputs)} of its input from the prompt cache; "
                    f"every call sends at least {prefix:,} tokens (its stable prefix): "
                    f"{share * 100:.1f} % of its input could be cached",
                ),
                figures={
                    "cached_share": float(cached / inputs),
                    "stable_prefix": prefix,
                    "share": str(share),
                },
                samples=samples(sized),
                action="put the stable part (system prompt, tools, instructions, shared documents) first and "
                "the varying part last, and send a prompt_cache_key per use case",
                policy=None,
                part=ScenarioPart(ID, scope, {"cached_share": str(share)}),
                confidence="low" if prefix < 4 * _MINIMUM else "medium",
                assumptions=(
                    "the smallest prompt of the scope is a prefix every call shares",
                    "under ~15 requests per minute per prefix and key, so calls reach a warm cache",
                ),
                effort="low",
                risk="low",
            )
        )
    return found


def _cached(g: CallGroup, share: Decimal) -> CallGroup:
    if g.cell.kind not in MODEL_KINDS or not g.calls or _per_call(g) < _MINIMUM:
        return g
    target = min(g.input_tokens, int(g.input_tokens * share))
    return g if target <= g.cached_input_tokens else replace(g, cached_input_tokens=target)


def apply(part: ScenarioPart, workload: Workload) -> Workload:
    share = Decimal(str(part.settings["cached_share"]))
    groups = tuple(_cached(g, share) if g.cell.matches(part.scope) else g for g in workload.groups)
    return replace(workload, groups=groups)
