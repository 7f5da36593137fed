"""Contract prices: list prices under a contract's discounts, clipped to where both are in effect (pure)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from aifinops.domain import DeploymentType, MeterKind, Price

__all__ = ["CONTRACT_SOURCE", "ContractDiscount", "apply_discounts"]

#: Prices from contract terms carry this source and win over list prices for the same key.
CONTRACT_SOURCE = "contract"
_FOREVER = dt.datetime.max.replace(tzinfo=dt.UTC)


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
