"""Reconciliation (pure): estimated cost (usage × price) against billed cost per resource, meter and day.

Three findings come out: the drift between the two in money and percent; the effective price of each
meter derived from the bill (cost ÷ quantity, scaled by the unit's block size) against the price book;
and the days one side is missing — billed cost with no usage events (telemetry missing) or usage with no
billed cost (cost missing; within ``billing_lag_days`` of ``as_of`` that is normal billing lag).

Meters are joined by meter id when both sides have one, else by meter name compared without case or
repeated spaces. Amounts in different currencies are never compared: they land on separate rows.
The bill's ``Quantity`` is read as counted in blocks of its ``UnitOfMeasure`` (``1K`` → 1,000 tokens per
unit of quantity), the way Azure prices token meters; the block size comes from the unit text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from aifinops.domain import CostRecord, to_nanos

__all__ = [
    "DriftRow",
    "DriftStatus",
    "Estimate",
    "PriceCheck",
    "Reconciliation",
    "block_size",
    "reconcile",
]

_BLOCK = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KkMm])?\b")
_AI_PROVIDER = "/providers/microsoft.cognitiveservices/"


def block_size(unit: str | None) -> int:
    """Units per quantity of a billing unit of measure.

    >>> block_size("1K"), block_size("1M"), block_size("10K"), block_size("100 Hours"), block_size(None)
    (1000, 1000000, 10000, 100, 1)
    """
    match = _BLOCK.match(unit or "")
    if match is None:
        return 1
    multiplier = {"k": 1_000, "m": 1_000_000}.get((match.group(2) or "").lower(), 1)
    return max(int(Decimal(match.group(1)) * multiplier), 1)


def _meter_key(meter_id: str | None, meter_name: str | None) -> str:
    if meter_id:
        return "id:" + meter_id.lower()
    return "name:" + " ".join((meter_name or "").lower().split())


class DriftStatus(StrEnum):
    MATCHED = "matched"  # both sides, within tolerance
    DRIFT = "drift"  # both sides, beyond tolerance
    TELEMETRY_MISSING = "telemetry_missing"  # billed, no usage events
    COST_MISSING = "cost_missing"  # usage, nothing billed (yet)
    BILLING_LAG = "billing_lag"  # usage, not billed yet, within the expected lag


@dataclass(frozen=True, slots=True)
class Estimate:
    """Estimated usage of one meter of one resource on one day; ``unit_price`` is per ``unit_size`` units."""

    day: dt.date
    resource_id: str
    cost_nanos: int
    currency: str
    quantity: Decimal = Decimal(0)
    meter_id: str = ""
    meter_name: str = ""
    deployment: str = ""
    unit_price: Decimal | None = None
    unit_size: int = 1_000_000


@dataclass(frozen=True, slots=True)
class DriftRow:
    day: dt.date
    resource_id: str
    meter: str
    currency: str
    estimated_nanos: int
    actual_nanos: int
    deployments: tuple[str, ...]
    status: DriftStatus

    @property
    def drift_nanos(self) -> int:
        """Actual − estimated: positive when the bill is higher than the estimate."""
        return self.actual_nanos - self.estimated_nanos

    @property
    def drift_pct(self) -> Decimal | None:
        """Drift as a percentage of the estimate; None when nothing was estimated."""
        if self.estimated_nanos == 0:
            return None
        return (Decimal(self.drift_nanos) * 100 / Decimal(self.estimated_nanos)).quantize(Decimal("0.01"))


@dataclass(frozen=True, slots=True)
class PriceCheck:
    """The price a meter was billed at over the input, against the price book (both per ``unit_size``)."""

    meter: str
    currency: str
    unit_size: int
    effective_price: Decimal
    book_price: Decimal | None
    mismatch: bool


@dataclass(frozen=True, slots=True)
class Reconciliation:
    rows: tuple[DriftRow, ...]  # per day, resource, meter and currency
    resources: tuple[DriftRow, ...]  # per day, resource and currency (meter "*"): where gaps are judged
    prices: tuple[PriceCheck, ...]


_Key = tuple[dt.date, str, str, str]


def _sums(
    estimates: Iterable[Estimate], actuals: Iterable[CostRecord]
) -> tuple[dict[_Key, int], dict[_Key, int], dict[_Key, set[str]], dict[_Key, str]]:
    est: dict[_Key, int] = defaultdict(int)
    act: dict[_Key, int] = defaultdict(int)
    deployments: dict[_Key, set[str]] = defaultdict(set)
    names: dict[_Key, str] = {}
    for e in estimates:
        key = (e.day, e.resource_id.lower(), _meter_key(e.meter_id, e.meter_name), e.currency)
        est[key] += e.cost_nanos
        if e.deployment:
            deployments[key].add(e.deployment)
        names.setdefault(key, e.meter_name or e.meter_id)
    for r in actuals:
        key = (r.billing_day, (r.resource_id or "").lower(), _meter_key(r.meter_id, r.meter_name), r.currency)
        act[key] += to_nanos(r.cost)
        names.setdefault(key, r.meter_name or r.meter_id or "")
    return est, act, deployments, names


def _status(
    estimated: int, actual: int, *, day: dt.date, tolerance: Decimal, lag_from: dt.date
) -> DriftStatus:
    if estimated == 0 and actual != 0:
        return DriftStatus.TELEMETRY_MISSING
    if actual == 0 and estimated != 0:
        return DriftStatus.BILLING_LAG if day >= lag_from else DriftStatus.COST_MISSING
    if estimated and abs(Decimal(actual - estimated)) > tolerance * abs(Decimal(estimated)):
        return DriftStatus.DRIFT
    return DriftStatus.MATCHED


def _rows(
    est: dict[_Key, int],
    act: dict[_Key, int],
    deployments: dict[_Key, set[str]],
    names: dict[_Key, str],
    *,
    tolerance: Decimal,
    lag_from: dt.date,
) -> list[DriftRow]:
    rows = []
    for key in sorted(set(est) | set(act)):
        day, resource, meter, currency = key
        e, a = est.get(key, 0), act.get(key, 0)
        rows.append(
            DriftRow(
                day,
                resource,
                names.get(key) or meter,
                currency,
                e,
                a,
                tuple(sorted(deployments.get(key, ()))),
                _status(e, a, day=day, tolerance=tolerance, lag_from=lag_from),
            )
        )
    return rows


def _per_resource(rows: Sequence[DriftRow], *, tolerance: Decimal, lag_from: dt.date) -> list[DriftRow]:
    est: dict[tuple[dt.date, str, str], int] = defaultdict(int)
    act: dict[tuple[dt.date, str, str], int] = defaultdict(int)
    deployments: dict[tuple[dt.date, str, str], set[str]] = defaultdict(set)
    for row in rows:
        key = (row.day, row.resource_id, row.currency)
        est[key] += row.estimated_nanos
        act[key] += row.actual_nanos
        deployments[key].update(row.deployments)
    out = []
    for key in sorted(est):
        day, resource, currency = key
        status = _status(est[key], act[key], day=day, tolerance=tolerance, lag_from=lag_from)
        out.append(
            DriftRow(
                day, resource, "*", currency, est[key], act[key], tuple(sorted(deployments[key])), status
            )
        )
    return out


def _prices(
    estimates: Sequence[Estimate], actuals: Sequence[CostRecord], tolerance: Decimal
) -> list[PriceCheck]:
    book: dict[tuple[str, str], tuple[Decimal, int]] = {}
    for e in estimates:
        if e.unit_price is not None:
            book.setdefault((_meter_key(e.meter_id, e.meter_name), e.currency), (e.unit_price, e.unit_size))
    billed: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    names: dict[tuple[str, str], str] = {}
    for r in actuals:
        if r.quantity is None or r.quantity == 0:
            continue
        key = (_meter_key(r.meter_id, r.meter_name), r.currency)
        billed[key][0] += r.cost
        billed[key][1] += r.quantity * block_size(r.unit)
        names.setdefault(key, r.meter_name or r.meter_id or "")
    checks = []
    for key in sorted(billed):
        cost, units = billed[key]
        if units == 0:
            continue
        price, size = book.get(key, (None, 1_000_000))
        effective = (cost / units * size).quantize(Decimal("1e-9"))
        mismatch = price is not None and abs(effective - price) > tolerance * price
        checks.append(PriceCheck(names[key] or key[0], key[1], size, effective, price, mismatch))
    return checks


def reconcile(
    estimates: Sequence[Estimate],
    actuals: Sequence[CostRecord],
    *,
    as_of: dt.date,
    drift_tolerance: Decimal = Decimal("0.05"),
    price_tolerance: Decimal = Decimal("0.01"),
    billing_lag_days: int = 2,
) -> Reconciliation:
    """Compare estimates with the bill of AI resources (Cognitive Services accounts, or any estimated one).

    Billed records of other resources are left out: they have no usage telemetry to miss.
    """
    estimated_resources = {e.resource_id.lower() for e in estimates}
    relevant = [
        r
        for r in actuals
        if (r.resource_id or "").lower() in estimated_resources
        or _AI_PROVIDER in (r.resource_id or "").lower()
    ]
    lag_from = as_of - dt.timedelta(days=billing_lag_days)
    est, act, deployments, names = _sums(estimates, relevant)
    rows = _rows(est, act, deployments, names, tolerance=drift_tolerance, lag_from=lag_from)
    return Reconciliation(
        tuple(rows),
        tuple(_per_resource(rows, tolerance=drift_tolerance, lag_from=lag_from)),
        tuple(_prices(estimates, relevant, price_tolerance)),
    )
