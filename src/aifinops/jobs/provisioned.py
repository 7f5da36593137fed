"""Estimating provisioned throughput: each hour of each PTU deployment priced and split over its calls.

The hour's cost is units × the hourly unit price — the price book's ``Provisioned Managed … Unit`` meter of
the deployment type and region, or a configured unit price — with reserved units at the configured
reservation rate. Each call carries its share by tokens as its estimated cost (so tasks, KPIs, showback and
allocation drivers see it like any estimate); the unused part of the hour is recorded as estimated idle
capacity in ``provisioned_hours``. Running it again over the same range recomputes and replaces, so it
never double-counts; calls that arrive later in an estimated hour are covered by the next run.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from aifinops.config import ProvisionedDeployment, ProvisionedSettings
from aifinops.domain import DeploymentType, Price, from_nanos
from aifinops.engine.provisioned import ProvisionedRate, hour_cost_nanos, split_hour, unit_hour_price
from aifinops.engine.usage_buckets import EPOCH, to_hour
from aifinops.jobs.provisioned_units import inventory_units, with_inventory
from aifinops.store.price_queries import read_prices
from aifinops.store.provisioned import EstimatedHour, ProvisionedCall, ProvisionedStore
from aifinops.store.store import Store

__all__ = ["DeploymentEstimate", "ProvisionedReport", "estimate_provisioned"]


@dataclass(frozen=True, slots=True)
class DeploymentEstimate:
    """One deployment's estimate over the range, or why it has none (``problem``)."""

    deployment: str
    events: int
    hours: int = 0
    units: int | None = None
    currency: str | None = None
    cost: Decimal = Decimal(0)
    used: Decimal = Decimal(0)
    idle: Decimal = Decimal(0)
    source: str = ""
    problem: str | None = None
    units_from: str = "configuration"  # or "inventory" (the deployment's SKU capacity)


@dataclass(frozen=True, slots=True)
class ProvisionedReport:
    deployments: tuple[DeploymentEstimate, ...]
    changed_events: int


def _hour_ts(hour: int) -> dt.datetime:
    return EPOCH + dt.timedelta(hours=hour)


def _deployment_type(conf: ProvisionedDeployment | None, calls: Sequence[ProvisionedCall]) -> str | None:
    if conf is not None and conf.deployment_type:
        return conf.deployment_type
    seen = Counter(c.deployment_type for c in calls if c.deployment_type)
    return seen.most_common(1)[0][0] if seen else None


def _region(conf: ProvisionedDeployment | None, calls: Sequence[ProvisionedCall]) -> str | None:
    if conf is not None and conf.region:
        return conf.region
    seen = Counter(c.region for c in calls if c.region)
    return seen.most_common(1)[0][0] if seen else None


class _Pricer:
    """The rate of one deployment for any hour, or the reason there is none."""

    def __init__(
        self,
        name: str,
        conf: ProvisionedDeployment,
        units: int,
        *,
        kind: DeploymentType,
        region: str | None,
        model: str | None,
        prices: Sequence[Price],
        currency: str,
    ) -> None:
        self.name, self.conf, self.units, self.kind = name, conf, units, kind
        self.region, self.model, self.prices, self.currency = region, model, prices, currency

    def rate(self, hour: int) -> ProvisionedRate | str:
        conf, reserved = self.conf, min(self.conf.reserved_units, self.units)
        reservation = f"; {reserved} reserved at {conf.reservation_rate} {self.currency}" if reserved else ""
        if conf.unit_price is not None or reserved == self.units:
            source = f"configured unit price {conf.unit_price} {self.currency}" if conf.unit_price else ""
            return self._rate(conf.unit_price, self.currency, (source + reservation).lstrip("; "), None)
        price = unit_hour_price(
            self.prices, deployment_type=self.kind, region=self.region, model=self.model, at=_hour_ts(hour)
        )
        if price is None:
            return (
                f"no hourly unit price of {self.kind.value} in {self.region or 'any region'} at "
                f"{_hour_ts(hour).isoformat()}: load one (`aifinops prices sync` or `prices load`), or set "
                f"provisioned.deployments.{self.name}.unit_price"
            )
        if reserved and price.currency != self.currency:
            return (
                f"the unit price is in {price.currency} and the reservation rate in {self.currency}: "
                f"set provisioned.deployments.{self.name}.unit_price in {self.currency}"
            )
        source = f"price book: {price.meter_name or price.model} {price.price} {price.currency}/unit-hour"
        return self._rate(price.price, price.currency, source + reservation, price.price_id)

    def _rate(
        self, price: Decimal | None, currency: str, source: str, price_id: int | None
    ) -> ProvisionedRate:
        return ProvisionedRate(
            units=self.units,
            unit_price=price,
            currency=currency,
            source=source,
            reserved_units=self.conf.reserved_units,
            reservation_price=self.conf.reservation_rate,
            price_id=price_id,
            capacity_per_unit_hour=self.conf.tokens_per_unit_hour,
        )


def _estimate(
    name: str, calls: Sequence[ProvisionedCall], pricer: _Pricer, hours: range
) -> list[EstimatedHour] | str:
    by_hour: dict[int, list[ProvisionedCall]] = defaultdict(list)
    for call in calls:
        by_hour[call.hour].append(call)
    out = []
    for hour in hours:
        rate = pricer.rate(hour)
        if isinstance(rate, str):
            return rate
        mine = by_hour.get(hour, [])
        split = split_hour(hour_cost_nanos(rate), [c.tokens for c in mine], rate.capacity_tokens)
        out.append(
            EstimatedHour(
                deployment=name,
                hour=hour,
                currency=rate.currency,
                units=rate.units,
                cost_nanos=split.cost_nanos,
                idle_nanos=split.idle_nanos,
                calls=tuple(mine),
                shares=split.shares,
                tokens=sum(c.tokens for c in mine),
                capacity_tokens=rate.capacity_tokens,
                source=rate.source,
                price_id=rate.price_id,
            )
        )
    return out


def _summary(name: str, events: int, hours: Sequence[EstimatedHour], units_from: str) -> DeploymentEstimate:
    currencies = {h.currency for h in hours}
    if len(currencies) > 1:  # a price book that changed currency mid-range: never add them
        return DeploymentEstimate(name, events, problem=f"hourly prices in several currencies {currencies}")
    cost = sum(h.cost_nanos for h in hours)
    idle = sum(h.idle_nanos for h in hours)
    return DeploymentEstimate(
        deployment=name,
        events=events,
        hours=len(hours),
        units=hours[-1].units if hours else None,
        currency=hours[-1].currency if hours else None,
        cost=from_nanos(cost),
        used=from_nanos(cost - idle),
        idle=from_nanos(idle),
        source=hours[-1].source if hours else "",
        units_from=units_from,
    )


def estimate_provisioned(
    store: Store,
    settings: ProvisionedSettings,
    *,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    currency: str = "USD",
) -> ProvisionedReport:
    """Estimate every provisioned deployment over the whole hours of ``[start, end)`` and store it.

    Units come from ``settings`` (by deployment name), else from the SKU capacity of the deployment in the
    collected inventory; ``currency`` is the one of configured prices and
    reservation rates. A deployment that cannot be estimated is reported with the
    reason and the fix, and its calls are left as they were.
    """
    h0, h1 = to_hour(start), -(-int((end - EPOCH).total_seconds()) // 3600)
    start, end = _hour_ts(h0), _hour_ts(h1)
    pstore = ProvisionedStore(store)
    inventory = inventory_units(store)
    named = set(settings.deployments) | set(inventory)
    by_name: dict[str, list[ProvisionedCall]] = defaultdict(list)
    for call in pstore.calls(start, end, deployments=named):
        by_name[call.deployment].append(call)
    # Only provisioned meters can price a PTU hour: read the book once, keep those (each hour scans them).
    prices = [p for p in read_prices(store) if p.deployment_type and p.deployment_type.is_provisioned]
    reports: list[DeploymentEstimate] = []
    estimated: list[EstimatedHour] = []
    for name in sorted(set(by_name) | named):
        calls = by_name.get(name, [])
        found = inventory.get(name)
        conf, units_from = with_inventory(settings.deployments.get(name) or ProvisionedDeployment(), found)
        units = conf.units
        kind = _deployment_type(conf, calls)
        problem = None
        if units is None:
            problem = (found.problem if found is not None else None) or (
                f"units unknown: set provisioned.deployments.{name}.units"
            )
        elif kind is None:
            problem = f"deployment type unknown: set provisioned.deployments.{name}.deployment_type"
        if problem is not None or units is None or kind is None:
            reports.append(DeploymentEstimate(name, len(calls), problem=problem))
            continue
        model = Counter(c.model for c in calls if c.model).most_common(1)
        pricer = _Pricer(
            name,
            conf,
            units,
            kind=DeploymentType(kind),
            region=_region(conf, calls),
            model=model[0][0] if model else None,
            prices=prices,
            currency=currency,
        )
        hours = _estimate(name, calls, pricer, range(h0, h1))
        if isinstance(hours, str):
            reports.append(DeploymentEstimate(name, len(calls), problem=hours))
            continue
        summary = _summary(name, len(calls), hours, units_from)
        reports.append(summary)
        if summary.problem is None:
            estimated += hours
    changed = pstore.write(estimated, start=start, end=end, now=now) if estimated else 0
    return ProvisionedReport(tuple(reports), changed)
