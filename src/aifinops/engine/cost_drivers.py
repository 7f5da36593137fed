"""What drives a use case's cost, in money (pure): its model calls split by meter (input, cached input,
output, reasoning tokens, non-token units), the part of them spent on retries, extra agent steps and
retrieval, and — from a stored allocation — the billed services it was allocated (provisioned throughput,
AI Search, API Management, telemetry, storage, compute) with its share of idle provisioned capacity.

Token meters are split exactly: each usage row's estimated cost (nanos) is cut over its meters by units ×
price with the largest-remainder method, so the meters of a use case sum to its estimated cost to the nano.
Reasoning tokens are billed as output; their part of a row's output cost is its reasoning ÷ output tokens.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from aifinops.engine.allocation import AllocationResult, Bucket, split_largest_remainder

__all__ = [
    "LOADED_CATEGORIES",
    "TOKEN_DRIVERS",
    "LoadedDrivers",
    "MeterUsage",
    "UsageDrivers",
    "loaded_drivers",
    "service_category",
    "top_driver",
    "usage_drivers",
]

#: The meters a use case's estimated (model call) cost is split into, in this order.
TOKEN_DRIVERS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "non_token_usage",
)
#: Billed services by what they do for a use case, in this order.
LOADED_CATEGORIES = (
    "model_tokens",
    "provisioned_throughput",
    "retrieval",
    "gateway",
    "telemetry",
    "storage",
    "compute",
    "commitment",
    "other",
)
_PROVIDERS = {
    "microsoft.cognitiveservices": "model_tokens",
    "microsoft.machinelearningservices": "model_tokens",
    "microsoft.search": "retrieval",
    "microsoft.apimanagement": "gateway",
    "microsoft.operationalinsights": "telemetry",
    "microsoft.insights": "telemetry",
    "microsoft.storage": "storage",
    "microsoft.app": "compute",
    "microsoft.web": "compute",
    "microsoft.compute": "compute",
    "microsoft.containerservice": "compute",
}
_RETRIEVAL_KINDS = frozenset({"retrieval", "embedding"})


def service_category(resource_id: str | None, meter_name: str | None) -> str:
    """What a billed record does for the use cases it is allocated to, from its resource provider.

    >>> service_category("/subscriptions/s/resourcegroups/g/providers/microsoft.search/searchservices/x", "")
    'retrieval'
    >>> service_category(None, "Provisioned Managed Global Unit")
    'provisioned_throughput'
    """
    if "provisioned" in (meter_name or "").lower():
        return "provisioned_throughput"
    rid = (resource_id or "").lower()
    if not rid:
        return "commitment"  # a purchase (reservation, savings plan) has no resource
    provider = rid.split("/providers/", 1)[-1].split("/", 1)[0] if "/providers/" in rid else ""
    return _PROVIDERS.get(provider, "other")


@dataclass(frozen=True, slots=True)
class MeterUsage:
    """Usage of one use case on one account, kind, retry/step class and set of prices."""

    use_case: str
    resource_id: str
    kind: str
    retry: bool
    extra_step: bool
    currency: str | None  # None: unpriced events
    events: int
    unpriced_events: int
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    quantity: Decimal
    cost_nanos: int
    cache_write_tokens: int = 0  # input written to the prompt cache (part of input_tokens)
    prices: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # meter → (price nanos, unit size)


@dataclass(slots=True)
class UsageDrivers:
    """One use case's estimated cost in one currency, split by meter, with what retries, extra steps and
    retrieval calls cost of it, and how much of its input was cached."""

    use_case: str
    currency: str
    estimated_nanos: int = 0
    meters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOKEN_DRIVERS, 0))
    retries_nanos: int = 0
    extra_steps_nanos: int = 0
    retrieval_calls_nanos: int = 0
    cache_savings_nanos: int = 0  # what the cached input would have cost at the input price, less its cost
    input_tokens: int = 0
    cached_input_tokens: int = 0

    @property
    def cached_share(self) -> Decimal | None:
        return Decimal(self.cached_input_tokens) / self.input_tokens if self.input_tokens else None


def _raw(row: MeterUsage) -> list[int]:
    """Each token driver's nanos at the row's prices (weights for the exact split of the row's cost)."""

    def cost(meter: str, units: Decimal | int) -> int:
        price = row.prices.get(meter)
        return 0 if price is None or not units else int(Decimal(units) * price[0] / price[1])

    output = cost("output", row.output_tokens)
    reasoning = output * row.reasoning_tokens // row.output_tokens if row.output_tokens else 0
    return [
        # Cached and cache-write tokens are part of input, each billed at its own meter (engine.pricing).
        cost("input", row.input_tokens - row.cached_input_tokens - row.cache_write_tokens),
        cost("cached_input", row.cached_input_tokens),
        cost("cache_write", row.cache_write_tokens),
        output - reasoning,
        reasoning,
        cost("unit", row.quantity),
    ]


def _add_row(acc: UsageDrivers, row: MeterUsage) -> None:
    acc.estimated_nanos += row.cost_nanos
    raw = _raw(row)
    if row.cost_nanos and sum(raw) > 0:
        positive = [i for i, v in enumerate(raw) if v > 0]
        for i, part in zip(
            positive, split_largest_remainder(row.cost_nanos, [raw[i] for i in positive]), strict=True
        ):
            acc.meters[TOKEN_DRIVERS[i]] += part
    elif row.cost_nanos:
        acc.meters["non_token_usage"] += row.cost_nanos  # priced, but no per-meter price known
    acc.retries_nanos += row.cost_nanos if row.retry else 0
    acc.extra_steps_nanos += row.cost_nanos if row.extra_step else 0
    acc.retrieval_calls_nanos += row.cost_nanos if row.kind in _RETRIEVAL_KINDS else 0
    acc.input_tokens += row.input_tokens
    acc.cached_input_tokens += row.cached_input_tokens
    inp, cached = row.prices.get("input"), row.prices.get("cached_input")
    if inp and cached and row.cached_input_tokens:
        full = (
            Decimal(row.cached_input_tokens) * inp[0] / inp[1]
            - Decimal(row.cached_input_tokens) * cached[0] / cached[1]
        )
        acc.cache_savings_nanos += int(full)


def usage_drivers(rows: Iterable[MeterUsage]) -> list[UsageDrivers]:
    """Per use case and currency, sorted: the split of its estimated cost (unpriced rows left out)."""
    out: dict[tuple[str, str], UsageDrivers] = {}
    for row in rows:
        if row.currency is None:
            continue
        key = (row.use_case, row.currency)
        _add_row(out.setdefault(key, UsageDrivers(row.use_case, row.currency)), row)
    return [out[k] for k in sorted(out)]


@dataclass(slots=True)
class LoadedDrivers:
    """One use case's allocated cost by service category, and its share of idle provisioned capacity."""

    use_case: str
    currency: str
    categories: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LOADED_CATEGORIES, 0))
    idle_share_nanos: int = 0


def _idle_shares(amount: int, weights: Mapping[str, int]) -> list[tuple[str, int]]:
    owners = sorted(u for u, w in weights.items() if w > 0)
    if not owners or not amount:
        return []
    return list(zip(owners, split_largest_remainder(amount, [weights[u] for u in owners]), strict=True))


def loaded_drivers(
    result: AllocationResult, *, usage_by_resource: Mapping[str, Mapping[str, int]]
) -> list[LoadedDrivers]:
    """Allocated cost per use case and currency by :func:`service_category`, from ``result`` (empty when it is
    not allocated over ``use_case``). Idle capacity stays its own bucket on the bill; here each use case is
    shown its share of the idle capacity of the accounts it used, by ``usage_by_resource`` (resource id →
    use case → tokens), to say what its reservation costs beyond what it used."""
    if "use_case" not in result.dimensions:
        return []
    at = result.dimensions.index("use_case")
    out: dict[tuple[str, str], LoadedDrivers] = {}

    def slot(use_case: str, currency: str) -> LoadedDrivers:
        return out.setdefault((use_case, currency), LoadedDrivers(use_case, currency))

    for part in result.parts:
        rec = result.records[part.record]
        if part.bucket is Bucket.ALLOCATED:
            category = service_category(rec.resource_id, rec.meter_name)
            for owner, amount in zip(part.owners, part.amounts, strict=True):
                slot(owner[at], part.currency).categories[category] += amount
        elif part.bucket is Bucket.IDLE:
            weights = usage_by_resource.get((rec.resource_id or "").lower(), {})
            for use_case, share in _idle_shares(sum(part.amounts), weights):
                slot(use_case, part.currency).idle_share_nanos += share
    return [out[k] for k in sorted(out)]


def top_driver(pairs: Sequence[tuple[str, int]]) -> str | None:
    """The name of the largest positive amount, or None."""
    best = max(pairs, key=lambda p: p[1], default=None)
    return best[0] if best and best[1] > 0 else None
