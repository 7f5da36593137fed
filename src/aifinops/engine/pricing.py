"""The pricing engine: a fast price book and the cost of usage events at the price in effect (pure)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from aifinops.domain import (
    ContextTier,
    DeploymentType,
    MeterKind,
    Price,
    PricedUsage,
    ProcessingTier,
    UsageEvent,
)
from aifinops.engine.contract_prices import CONTRACT_SOURCE, ContractDiscount, apply_discounts
from aifinops.engine.model_aliases import PricingRules

__all__ = [
    "CONTRACT_SOURCE",
    "MAX_EVENT_COST",
    "TOKEN_UNIT",
    "ContractDiscount",
    "PriceBook",
    "PricingRules",
    "apply_discounts",
    "call_tiers",
    "price_event",
    "price_event_charged",
    "price_events",
]

#: The ``Price.unit`` of every token meter.
TOKEN_UNIT = "tokens"

# The lookup cache holds one candidate chain per distinct query key; junk keys (typos in event regions)
# must not grow it without bound, so it is dropped and rebuilt past this size.
_MAX_CHAINS = 100_000

_Key = tuple[
    str, MeterKind, DeploymentType | None, str | None, str | None, ProcessingTier, ContextTier | None
]


def _region_key(region: str | None) -> str | None:
    # Azure spells a region `eastus2` in ARM and `East US 2` in portals and some exports.
    return region.replace(" ", "").lower() if region else None


class PriceBook:
    """Effective-dated prices indexed by (model, meter kind) for lookups on the ingest hot path.

    Matching order (most specific first): exact deployment type before ``None``, exact model version before
    ``None``, exact region before ``None``. The version outranks the region because versions change a price
    up to 2× (gpt-4o 0513 vs 1120) while regions change it about 10%. Among equally specific prices a
    contract price wins over a list price, then the latest ``effective_start`` wins.
    """

    __slots__ = ("_by_meter", "_chains", "_models", "_size", "_versions", "currencies", "rules")

    def __init__(self, prices: Iterable[Price], *, rules: PricingRules | None = None) -> None:
        by_meter: dict[tuple[str, MeterKind], list[Price]] = defaultdict(list)
        versions: dict[str, list[Price]] = defaultdict(list)
        currencies: set[str] = set()
        size = 0
        for price in prices:
            currencies.add(price.currency)
            by_meter[(price.model.lower(), price.meter_kind)].append(price)
            if price.model_version is not None:
                versions[price.model.lower()].append(price)
            size += 1
        self._by_meter = dict(by_meter)
        self._versions = dict(versions)
        self._chains: dict[_Key, tuple[Price, ...]] = {}
        self._models: dict[str, tuple[str, str | None, int]] = {}
        self._size = size
        self.currencies = frozenset(currencies)
        self.rules = rules or PricingRules()

    def model_of(self, model: str) -> tuple[str, str | None, int]:
        """A client's model name as its meter family, the version its name carries, and the input tokens
        past which it is priced as long context (``rules``, cached per name)."""
        found = self._models.get(model)
        if found is None:
            family, version = self.rules.family(model)
            found = (family, version, self.rules.long_context_from(family))
            if len(self._models) >= _MAX_CHAINS:
                self._models.clear()
            self._models[model] = found
        return found

    def versions_in_effect(
        self, model: str, *, ts: dt.datetime, deployment_type: DeploymentType | None, region: str | None
    ) -> list[str]:
        """The versions of ``model`` with a price in effect at ``ts`` for the deployment type and region,
        newest first (versions are ISO dates, so the newest sorts last as text)."""
        wanted_region = _region_key(region)
        found = {
            p.model_version
            for p in self._versions.get(model.lower(), ())
            if p.model_version is not None
            and p.covers(ts)
            and p.deployment_type in (None, deployment_type)
            and _region_key(p.region) in (None, wanted_region)
        }
        return sorted(found, reverse=True)

    def __len__(self) -> int:
        return self._size

    def boundaries(self) -> tuple[dt.datetime, ...]:
        """Every instant a price starts or ends, sorted: between two of them every lookup answers the same."""
        ends = (t for ps in self._by_meter.values() for p in ps for t in (p.effective_start, p.effective_end))
        return tuple(sorted({t for t in ends if t is not None}))

    def find(
        self,
        *,
        model: str,
        meter_kind: MeterKind,
        ts: dt.datetime,
        deployment_type: DeploymentType | None,
        region: str | None,
        model_version: str | None,
        currency: str | None = None,
        unit: str | None = None,
        processing_tier: ProcessingTier = ProcessingTier.STANDARD,
        context_tier: ContextTier | None = None,
    ) -> Price | None:
        """The most specific price in effect at ``ts`` (``effective_start <= ts < effective_end``), or None.

        ``currency`` and ``unit``, when given, must match exactly; so must the processing tier. A price of
        the call's context tier outranks one without context tiers; one of the other context tier never
        matches.
        """
        key = (
            model.lower(),
            meter_kind,
            deployment_type,
            region,
            model_version,
            processing_tier,
            context_tier,
        )
        chain = self._chains.get(key)
        if chain is None:
            chain = self._chain(key)
        for price in chain:
            if (
                price.effective_start <= ts
                and (price.effective_end is None or ts < price.effective_end)
                and (currency is None or price.currency == currency)
                and (unit is None or price.unit == unit)
            ):
                return price
        return None

    def _chain(self, key: _Key) -> tuple[Price, ...]:
        """Every price that can match ``key`` at some time, in preference order; cached per key."""
        model, meter_kind, deployment_type, region, version, tier, context = key
        wanted_region = _region_key(region)
        billing = self.rules.currency
        ranked: list[tuple[tuple[int, int, int, int, int, int, float], Price]] = []
        for price in self._by_meter.get((model, meter_kind), ()):
            price_region = _region_key(price.region)
            if price.deployment_type not in (None, deployment_type) or price.processing_tier is not tier:
                continue
            if price.model_version not in (None, version) or price_region not in (None, wanted_region):
                continue
            if price.context_tier not in (None, context):
                continue
            rank = (
                price.context_tier is None,
                price.deployment_type is None,
                price.model_version is None,
                price_region is None,
                billing is not None and price.currency != billing,
                price.source != CONTRACT_SOURCE,
                -price.effective_start.timestamp(),
            )
            ranked.append((rank, price))
        ranked.sort(key=lambda pair: pair[0])
        chain = tuple(price for _, price in ranked)
        if len(self._chains) >= _MAX_CHAINS:
            self._chains.clear()
        self._chains[key] = chain
        return chain


def _describe(event: UsageEvent) -> str:
    model = f"{event.model} {event.model_version}" if event.model_version else str(event.model)
    deployment = event.deployment_type.value if event.deployment_type else "any-deployment-type"
    return f"{model}/{deployment}/{event.region or 'any-region'} at {event.ts.isoformat()}"


def call_tiers(
    service_tier: ProcessingTier | None, *, input_tokens: int, long_context_from: int, priority: bool = False
) -> tuple[ProcessingTier, ContextTier]:
    """The processing and context tier a call is priced at, by the one rule that prices recorded events and
    reserves gateway calls: the ``service_tier`` (else priority when the older flag says so, else standard),
    and long context when its input tokens pass the model's threshold.

    >>> call_tiers(None, input_tokens=300_000, long_context_from=272_000)
    (<ProcessingTier.STANDARD: 'standard'>, <ContextTier.LONG: 'long'>)
    """
    tier = service_tier or (ProcessingTier.PRIORITY if priority else ProcessingTier.STANDARD)
    return tier, ContextTier.LONG if input_tokens > long_context_from else ContextTier.SHORT


def _token_needs(event: UsageEvent) -> list[tuple[MeterKind, int | Decimal, str]] | str:
    """The token meters an event uses, with their units; a reason string when the counts are invalid."""
    inp, cached, out = event.input_tokens, event.cached_input_tokens, event.output_tokens
    written = event.cache_write_tokens
    if inp < 0 or cached < 0 or out < 0 or written < 0:
        return f"negative token count (input {inp}, cached {cached}, cache write {written}, output {out})"
    if cached + written > inp:
        return (
            f"cached_input_tokens {cached} and cache_write_tokens {written} exceed input_tokens {inp} "
            "(both are part of input)"
        )
    # Cached and cache-write tokens are billed once, at their own meters; reasoning is already in output.
    needs: list[tuple[MeterKind, int | Decimal, str]] = []
    if inp > cached + written:
        needs.append((MeterKind.INPUT, inp - cached - written, TOKEN_UNIT))
    if cached:
        needs.append((MeterKind.CACHED_INPUT, cached, TOKEN_UNIT))
    if written:
        needs.append((MeterKind.CACHE_WRITE, written, TOKEN_UNIT))
    if out:
        needs.append((MeterKind.OUTPUT, out, TOKEN_UNIT))
    return needs


@dataclass(frozen=True, slots=True)
class _Query:
    """What one event asks the price book: its family, version, tiers, deployment type and region."""

    family: str
    version: str | None
    tier: ProcessingTier
    context: ContextTier
    names: tuple[str, ...]  # the family, then the model as the client sent it when that differs


def _lookup(
    event: UsageEvent, book: PriceBook, query: _Query, *, kind: MeterKind, currency: str | None, unit: str
) -> Price | None:
    """The price of one meter of ``event``; a unit price may be model-agnostic, named for its unit."""
    if kind is MeterKind.UNIT:
        names = (query.family, unit, *query.names[1:]) if unit else query.names
        tier, context = ProcessingTier.STANDARD, None
    else:
        names, tier, context = query.names, query.tier, query.context
    for name in names:
        price = book.find(
            model=name,
            meter_kind=kind,
            ts=event.ts,
            deployment_type=event.deployment_type,
            region=event.region,
            model_version=query.version,
            currency=currency,
            unit=unit,
            processing_tier=tier,
            context_tier=context,
        )
        if price is not None:
            return price
    return None


def _unpriced(
    event: UsageEvent, book: PriceBook, query: _Query, *, kind: MeterKind, currency: str | None, unit: str
) -> PricedUsage:
    """Why a meter has no price: missing, or priced only in another currency than the event's other meters."""
    what = (
        kind.value
        if kind is not MeterKind.UNIT
        else f"per-{unit or 'unit (the event has a quantity but no unit)'}"
    )
    if kind is not MeterKind.UNIT and query.tier is not ProcessingTier.STANDARD:
        what = f"{query.tier.value} {what}"
    reason = f"no {what} price for {_describe(event)}"
    if query.family != (event.model or "").lower():
        reason += f" (priced as {query.family})"
    if currency is not None and _lookup(event, book, query, kind=kind, currency=None, unit=unit) is not None:
        reason += f" in {currency} (the other meters of this event are priced in {currency})"
    if event.deployment_type is not None and event.deployment_type.is_provisioned:
        reason += (
            "; provisioned deployments are billed per PTU hour: add a price of 0 for this meter to mark "
            "its tokens as covered"
        )
    return PricedUsage(None, None, {}, unpriced_reason=reason)


#: The most one event may cost: stored as a 64-bit count of 10⁻⁹ currency units (ceiling ~9.2e9), with room
#: left for the sums of the rollups. A costlier event is a wrong quantity or price: it stays unpriced.
MAX_EVENT_COST = Decimal(10) ** 9


def price_event(event: UsageEvent, book: PriceBook) -> PricedUsage:
    """Estimate one event's cost at the prices in effect at ``event.ts``; unpriced when any price is missing.

    Token meters: (input − cached − cache write) × input + cached × cached input + cache write × cache
    write (the input price for models without a cache-write meter) + output × output, at the meters of the
    event's processing tier (``service_tier``; ``priority`` means the priority tier) and of its context
    tier (input tokens past the model's threshold are long context); batch through the batch deployment
    types. The model name goes through the alias table of ``book.rules``; an event without
    ``model_version`` is priced with the newest version in effect for its model, deployment type and
    region, and says so in ``inferred_version``. Non-token work (``quantity`` + ``unit``) uses a
    ``MeterKind.UNIT`` price of that unit for the event's model, else a model-agnostic price whose model
    is the unit name (PTU hours are metered once for all models). Provisioned deployments get no special
    case: tokens cost 0 only when a price of 0 says so. An event with no usage at all costs exactly 0 with
    no currency and no price.

    >>> import datetime as dt
    >>> ts = dt.datetime(2025, 5, 1, tzinfo=dt.UTC)
    >>> book = PriceBook([Price("gpt-4.1", MeterKind.INPUT, Decimal("2"), "USD", ts),
    ...                   Price("gpt-4.1", MeterKind.OUTPUT, Decimal("8"), "USD", ts)])
    >>> price_event(UsageEvent("e1", ts, model="gpt-4.1", input_tokens=1000, output_tokens=500), book).cost
    Decimal('0.006')
    """
    return price_event_charged(event, book)[0]


def price_event_charged(event: UsageEvent, book: PriceBook) -> tuple[PricedUsage, tuple[Price, ...] | None]:
    """:func:`price_event`, with the price each metered quantity was charged at, in the order of the meters
    (input, cached input, cache write, output, unit; only those the event uses; none when unpriced). None
    instead when :data:`MAX_EVENT_COST` refused some prices: the choice then depended on the amounts."""
    needs = _token_needs(event)
    if isinstance(needs, str):
        return PricedUsage(None, None, {}, unpriced_reason=f"event {event.event_id}: {needs}"), ()
    if event.quantity is not None and event.quantity != 0:
        needs.append((MeterKind.UNIT, event.quantity, event.unit or ""))
    if not needs:  # a tool call, a retrieval or a refused call with no metered usage costs nothing here
        return PricedUsage(Decimal(0), None, {}), ()
    if event.model is None and any(kind is not MeterKind.UNIT for kind, _, _ in needs):
        reason = f"event {event.event_id} has tokens but no model"
        return PricedUsage(None, None, {}, unpriced_reason=reason), ()
    model = event.model or ""
    family, named_version, threshold = book.model_of(model)
    tier, context = call_tiers(
        event.service_tier,
        input_tokens=event.input_tokens,
        long_context_from=threshold,
        priority=event.priority,
    )
    query = _Query(
        family,
        event.model_version or named_version,
        tier,
        context,
        (family,) if model == family or not model else (family, model),
    )
    priced, charged = _priced(event, book, query, needs)
    if priced.priced or query.version is not None:
        return priced, charged
    capped = charged is None
    # No version named: price with the version in effect for the model, deployment type and region.
    versions = book.versions_in_effect(
        family, ts=event.ts, deployment_type=event.deployment_type, region=event.region
    )
    for version in versions:
        inferred, charged = _priced(event, book, dataclasses.replace(query, version=version), needs)
        if inferred.priced:
            return dataclasses.replace(inferred, inferred_version=version), None if capped else charged
        capped = capped or charged is None
    return priced, None if capped else ()


def _priced(
    event: UsageEvent, book: PriceBook, query: _Query, needs: list[tuple[MeterKind, int | Decimal, str]]
) -> tuple[PricedUsage, tuple[Price, ...] | None]:
    """The event at the prices of ``query``, all in one currency: the billing currency where every meter has
    a price in it, else the first other currency that prices every meter."""
    priced, charged = _priced_in(event, book, query, needs, None)
    if priced.priced or len(book.currencies) < 2:
        return priced, charged
    capped = charged is None
    for currency in sorted(book.currencies):
        other, charged = _priced_in(event, book, query, needs, currency)
        if other.priced:
            return other, None if capped else charged
        capped = capped or charged is None
    return priced, None if capped else ()


def _priced_in(
    event: UsageEvent,
    book: PriceBook,
    query: _Query,
    needs: list[tuple[MeterKind, int | Decimal, str]],
    currency: str | None,
) -> tuple[PricedUsage, tuple[Price, ...] | None]:
    """Every meter at the prices of ``query`` in ``currency`` (any when None), with the prices charged (None
    when the cost is beyond :data:`MAX_EVENT_COST`)."""
    cost = Decimal(0)
    price_ids: dict[MeterKind, int | None] = {}
    charged: list[Price] = []
    for kind, units, unit in needs:
        price = _lookup(event, book, query, kind=kind, currency=currency, unit=unit)
        if price is None and kind is MeterKind.CACHE_WRITE:
            # A model without a cache-write meter bills cache writes as the input tokens they are.
            price = _lookup(event, book, query, kind=MeterKind.INPUT, currency=currency, unit=unit)
        if price is None:
            return _unpriced(event, book, query, kind=kind, currency=currency, unit=unit), ()
        cost, currency = cost + price.cost_of(units), price.currency
        price_ids[kind] = price.price_id
        charged.append(price)
    if abs(cost) > MAX_EVENT_COST:
        reason = (
            f"event {event.event_id}: its cost {cost:.2f} {currency} is beyond the {MAX_EVENT_COST:,} "
            "one event may cost (a 64-bit count of 10⁻⁹ units); check its quantity and its prices"
        )
        return PricedUsage(None, None, {}, unpriced_reason=reason), None
    return PricedUsage(cost, currency, price_ids), tuple(charged)


def price_events(events: Iterable[UsageEvent], book: PriceBook) -> list[PricedUsage]:
    """``price_event`` over many events, in order."""
    return [price_event(event, book) for event in events]
