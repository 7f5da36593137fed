"""The pricing engine: a fast price book and the cost of usage events at the price in effect (pure)."""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from aifinops.domain import DeploymentType, MeterKind, Price, PricedUsage, UsageEvent, to_nanos

__all__ = [
    "CONTRACT_SOURCE",
    "MAX_EVENT_COST",
    "TOKEN_UNIT",
    "ContractDiscount",
    "NanoPrice",
    "NanoPricer",
    "PriceBook",
    "apply_discounts",
    "price_event",
    "price_events",
]

#: Prices from contract terms carry this source and win over list prices for the same key.
CONTRACT_SOURCE = "contract"
#: The ``Price.unit`` of every token meter.
TOKEN_UNIT = "tokens"

# The lookup cache holds one candidate chain per distinct query key; junk keys (typos in event regions)
# must not grow it without bound, so it is dropped and rebuilt past this size.
_MAX_CHAINS = 100_000
_FOREVER = dt.datetime.max.replace(tzinfo=dt.UTC)

_Key = tuple[str, MeterKind, DeploymentType | None, str | None, str | None]


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

    __slots__ = ("_by_meter", "_chains", "_size")

    def __init__(self, prices: Iterable[Price]) -> None:
        by_meter: dict[tuple[str, MeterKind], list[Price]] = defaultdict(list)
        size = 0
        for price in prices:
            by_meter[(price.model, price.meter_kind)].append(price)
            size += 1
        self._by_meter = dict(by_meter)
        self._chains: dict[_Key, tuple[Price, ...]] = {}
        self._size = size

    def __len__(self) -> int:
        return self._size

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
    ) -> Price | None:
        """The most specific price in effect at ``ts`` (``effective_start <= ts < effective_end``), or None.

        ``currency`` and ``unit``, when given, must match exactly.
        """
        key = (model, meter_kind, deployment_type, region, model_version)
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
        model, meter_kind, deployment_type, region, version = key
        wanted_region = _region_key(region)
        ranked: list[tuple[tuple[int, int, int, int, float], Price]] = []
        for price in self._by_meter.get((model, meter_kind), ()):
            price_region = _region_key(price.region)
            if price.deployment_type not in (None, deployment_type):
                continue
            if price.model_version not in (None, version) or price_region not in (None, wanted_region):
                continue
            rank = (
                price.deployment_type is None,
                price.model_version is None,
                price_region is None,
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


_TOKEN_KINDS = (MeterKind.INPUT, MeterKind.CACHED_INPUT, MeterKind.OUTPUT)
_PRIORITY_KINDS = (MeterKind.PRIORITY_INPUT, MeterKind.PRIORITY_CACHED_INPUT, MeterKind.PRIORITY_OUTPUT)


def _token_needs(event: UsageEvent) -> list[tuple[MeterKind, int | Decimal, str]] | str:
    """The token meters an event uses, with their units; a reason string when the counts are invalid."""
    inp, cached, out = event.input_tokens, event.cached_input_tokens, event.output_tokens
    if inp < 0 or cached < 0 or out < 0:
        return f"negative token count (input {inp}, cached {cached}, output {out})"
    if cached > inp:
        return f"cached_input_tokens {cached} exceeds input_tokens {inp} (cached tokens are part of input)"
    kinds = _PRIORITY_KINDS if event.priority else _TOKEN_KINDS
    # Cached tokens are billed once, at the cached meter; reasoning tokens are already inside output.
    needs: list[tuple[MeterKind, int | Decimal, str]] = []
    if inp > cached:
        needs.append((kinds[0], inp - cached, TOKEN_UNIT))
    if cached:
        needs.append((kinds[1], cached, TOKEN_UNIT))
    if out:
        needs.append((kinds[2], out, TOKEN_UNIT))
    return needs


def _lookup(
    event: UsageEvent, book: PriceBook, *, kind: MeterKind, currency: str | None, unit: str
) -> Price | None:
    """The price of one meter of ``event``; a unit price may be model-agnostic, named for its unit."""
    models = (event.model or "", unit) if kind is MeterKind.UNIT and unit else (event.model or "",)
    for name in models:
        price = book.find(
            model=name,
            meter_kind=kind,
            ts=event.ts,
            deployment_type=event.deployment_type,
            region=event.region,
            model_version=event.model_version,
            currency=currency,
            unit=unit,
        )
        if price is not None:
            return price
    return None


def _unpriced(
    event: UsageEvent, book: PriceBook, *, kind: MeterKind, currency: str | None, unit: str
) -> PricedUsage:
    """Why a meter has no price: missing, or priced only in another currency than the event's other meters."""
    what = (
        kind.value
        if kind is not MeterKind.UNIT
        else f"per-{unit or 'unit (the event has a quantity but no unit)'}"
    )
    reason = f"no {what} price for {_describe(event)}"
    if currency is not None and _lookup(event, book, kind=kind, currency=None, unit=unit) is not None:
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

    Token meters: (input − cached) × input + cached × cached input + output × output (the ``priority_*``
    meters when ``event.priority``; batch through the batch deployment types). Non-token work
    (``quantity`` + ``unit``) uses a ``MeterKind.UNIT`` price of that unit for the event's model, else a
    model-agnostic price whose model is the unit name (PTU hours are metered once for all models).
    Provisioned deployments get no special case: tokens cost 0 only when a price of 0 says so. An event
    with no usage at all costs exactly 0 with no currency and no price.

    >>> import datetime as dt
    >>> ts = dt.datetime(2025, 5, 1, tzinfo=dt.UTC)
    >>> book = PriceBook([Price("gpt-4.1", MeterKind.INPUT, Decimal("2"), "USD", ts),
    ...                   Price("gpt-4.1", MeterKind.OUTPUT, Decimal("8"), "USD", ts)])
    >>> price_event(UsageEvent("e1", ts, model="gpt-4.1", input_tokens=1000, output_tokens=500), book).cost
    Decimal('0.006')
    """
    needs = _token_needs(event)
    if isinstance(needs, str):
        return PricedUsage(None, None, {}, unpriced_reason=f"event {event.event_id}: {needs}")
    if event.quantity is not None and event.quantity != 0:
        needs.append((MeterKind.UNIT, event.quantity, event.unit or ""))
    if not needs:  # a tool call, a retrieval or a refused call with no metered usage costs nothing here
        return PricedUsage(Decimal(0), None, {})
    if event.model is None and any(kind is not MeterKind.UNIT for kind, _, _ in needs):
        return PricedUsage(None, None, {}, unpriced_reason=f"event {event.event_id} has tokens but no model")
    cost, currency = Decimal(0), None
    price_ids: dict[MeterKind, int | None] = {}
    for kind, units, unit in needs:
        price = _lookup(event, book, kind=kind, currency=currency, unit=unit)
        if price is None:
            return _unpriced(event, book, kind=kind, currency=currency, unit=unit)
        cost, currency = cost + price.cost_of(units), price.currency
        price_ids[kind] = price.price_id
    if abs(cost) > MAX_EVENT_COST:
        reason = (
            f"event {event.event_id}: its cost {cost:.2f} {currency} is beyond the {MAX_EVENT_COST:,} "
            "one event may cost (a 64-bit count of 10⁻⁹ units); check its quantity and its prices"
        )
        return PricedUsage(None, None, {}, unpriced_reason=reason)
    return PricedUsage(cost, currency, price_ids)


def price_events(events: Iterable[UsageEvent], book: PriceBook) -> list[PricedUsage]:
    """``price_event`` over many events, in order."""
    return [price_event(event, book) for event in events]


@dataclass(frozen=True, slots=True)
class ContractDiscount:
    """A contract term: ``percent`` off list prices in a period, for one model, deployment type or meter."""

    percent: Decimal
    effective_start: dt.datetime
    effective_end: dt.datetime | None = None
    model: str | None = None  # None = every model
    deployment_type: DeploymentType | None = None
    meter_kind: MeterKind | None = None

    def applies_to(self, price: Price) -> bool:
        return (
            self.model in (None, price.model)
            and self.deployment_type in (None, price.deployment_type)
            and self.meter_kind in (None, price.meter_kind)
        )

    @property
    def specificity(self) -> tuple[bool, bool, bool]:
        return (self.model is not None, self.deployment_type is not None, self.meter_kind is not None)


def apply_discounts(list_prices: Iterable[Price], discounts: Sequence[ContractDiscount]) -> list[Price]:
    """Contract prices: each list price under each discount in force, clipped to where both are effective.

    Where several discounts cover the same price at the same time the most specific one applies (a model
    beats all models; then a deployment type; then a meter); equal ones apply in the given order.
    Contract prices in the input are not discounted again.

    >>> ts = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    >>> [p.price for p in apply_discounts([Price("o3", MeterKind.INPUT, Decimal("2"), "USD", ts)],
    ...                                   [ContractDiscount(Decimal("15"), ts)])]
    [Decimal('1.7')]
    """
    ordered = sorted(discounts, key=lambda d: d.specificity, reverse=True)  # stable: given order on ties
    contract: list[Price] = []
    for price in list_prices:
        if price.source == CONTRACT_SOURCE:
            continue
        applicable = [d for d in ordered if d.applies_to(price)]
        if applicable:
            contract.extend(_discounted(price, applicable))
    return contract


def _discounted(price: Price, discounts: list[ContractDiscount]) -> list[Price]:
    """The contract prices of one list price, one per maximal period in which one discount applies."""
    start, end = price.effective_start, price.effective_end or _FOREVER
    cuts = {start, end}
    for d in discounts:
        cuts.update(t for t in (d.effective_start, d.effective_end) if t is not None and start < t < end)
    bounds = sorted(cuts)
    out: list[Price] = []
    for seg_start, seg_end in itertools.pairwise(bounds):
        chosen = next((d for d in discounts if _covers(d, seg_start)), None)
        if chosen is None:
            continue
        amount = price.price * (100 - chosen.percent) / 100
        last = out[-1] if out else None
        if last is not None and last.effective_end == seg_start and last.price == amount:
            out[-1] = dataclasses.replace(last, effective_end=None if seg_end == _FOREVER else seg_end)
            continue
        out.append(
            dataclasses.replace(
                price,
                price=amount,
                effective_start=seg_start,
                effective_end=None if seg_end == _FOREVER else seg_end,
                source=CONTRACT_SOURCE,
                price_id=None,
            )
        )
    return out


def _covers(discount: ContractDiscount, ts: dt.datetime) -> bool:
    return discount.effective_start <= ts and (discount.effective_end is None or ts < discount.effective_end)


#: What :class:`NanoPricer` answers for an event: (cost in nano-units or None, currency, price ids, reason).
NanoPrice = tuple[int | None, str | None, dict[MeterKind, int | None], str | None]


#: (currency, nanos × denominator ÷ unit size per token meter, denominator, price ids) of a key and period.
_Coefficients = tuple[str | None, tuple[int, ...], int, tuple[tuple[MeterKind, int | None], ...]]


def _nanos_of(price: Price) -> int | None:
    """The price in whole nano-units when it is exactly that many, else None."""
    nanos = price.price * 1_000_000_000
    return int(nanos) if nanos == nanos.to_integral_value() else None


def _power_of_ten(n: int) -> bool:
    return 0 < n <= 10**9 and str(n).rstrip("0") == "1"


class NanoPricer:
    """:func:`price_event` in integer nano-units, with the prices of each price key cached.

    A price key (model, deployment type, region, version, priority, the token meters used) keeps its prices
    between two consecutive effective-date boundaries of its candidate prices, so one lookup per key and
    period prices every event of it: cost = Σ units × price nanos ÷ unit size, rounded half to even once,
    exactly what :func:`price_event` and :func:`aifinops.domain.to_nanos` give. Events it does not cover
    (quantities, invalid token counts, missing prices, non-decimal unit sizes) go through
    :func:`price_event` itself, so the answer is always the same.
    """

    __slots__ = ("_book", "_keys")

    def __init__(self, book: PriceBook) -> None:
        self._book = book
        self._keys: dict[tuple[object, ...], tuple[list[dt.datetime], dict[int, _Coefficients | None]]] = {}

    @property
    def book(self) -> PriceBook:
        return self._book

    def price(self, event: UsageEvent) -> NanoPrice:
        """The estimate of ``event`` as stored: cost nano-units (None: unpriced), currency, ids, reason."""
        inp, cached, out = event.input_tokens, event.cached_input_tokens, event.output_tokens
        if (event.quantity is not None and event.quantity != 0) or event.model is None:
            return self._slow(event)
        if inp < 0 or cached < 0 or out < 0 or cached > inp or not (inp or out):
            return self._slow(event)
        kinds = _PRIORITY_KINDS if event.priority else _TOKEN_KINDS
        used = (inp > cached, cached > 0, out > 0)
        key = (event.model, event.deployment_type, event.region, event.model_version, kinds, used)
        entry = self._keys.get(key)
        if entry is None:
            entry = self._keys[key] = (self._boundaries(event, kinds, used), {})
            if len(self._keys) > _MAX_CHAINS:
                self._keys.clear()
        bounds, segments = entry
        segment = bisect.bisect_right(bounds, event.ts)
        if segment not in segments:
            segments[segment] = self._coefficients(event, kinds, used)
        found = segments[segment]
        if found is None:
            return self._slow(event)
        currency, factors, denominator, ids = found
        units = (inp - cached, cached, out)
        numerator = sum(u * f for u, f in zip(units, factors, strict=True))
        if abs(numerator) > 10**18 * denominator:  # beyond MAX_EVENT_COST: price_event says why
            return self._slow(event)
        q, r = divmod(numerator, denominator)
        if 2 * r > denominator or (2 * r == denominator and q % 2):
            q += 1
        return q, currency, dict(ids), None

    def _boundaries(
        self, event: UsageEvent, kinds: tuple[MeterKind, ...], used: tuple[bool, ...]
    ) -> list[dt.datetime]:
        """Every instant at which the price of a used meter of this key may change."""
        out: set[dt.datetime] = set()
        for kind, needed in zip(kinds, used, strict=True):
            if needed:
                key = (event.model or "", kind, event.deployment_type, event.region, event.model_version)
                for price in self._book._chains.get(key) or self._book._chain(key):
                    out.add(price.effective_start)
                    if price.effective_end is not None:
                        out.add(price.effective_end)
        return sorted(out)

    def _coefficients(
        self, event: UsageEvent, kinds: tuple[MeterKind, ...], used: tuple[bool, ...]
    ) -> _Coefficients | None:
        """The coefficients of this key and period, or None when its events must be priced by
        :func:`price_event`."""
        currency: str | None = None
        found: list[Price | None] = []
        for kind, needed in zip(kinds, used, strict=True):
            if not needed:
                found.append(None)
                continue
            price = _lookup(event, self._book, kind=kind, currency=currency, unit=TOKEN_UNIT)
            if price is None or _nanos_of(price) is None or not _power_of_ten(price.unit_size):
                return None
            currency = price.currency
            found.append(price)
        denominator = max(p.unit_size for p in found if p is not None)
        factors = tuple(0 if p is None else (_nanos_of(p) or 0) * (denominator // p.unit_size) for p in found)
        ids = {kind: p.price_id for kind, p in zip(kinds, found, strict=True) if p is not None}
        return currency, factors, denominator, tuple(ids.items())

    def _slow(self, event: UsageEvent) -> NanoPrice:
        priced = price_event(event, self._book)
        if priced.cost is None:
            return None, None, dict(priced.price_ids), priced.unpriced_reason
        return to_nanos(priced.cost), priced.currency, dict(priced.price_ids), None
