"""Showback and chargeback tables (pure): cost by owner; idle, purchases and unallocated kept visible.

The rows of a table add up, per currency, to the sum of the cost records allocated (the invoice): the
allocation conserves every nano and this module only regroups its lines. Chargeback adds a gate: it is
refused while the unallocated share exceeds a limit, and the refusal names the largest unallocated items.
The unallocated share is gross — Σ|unallocated lines| ÷ Σ|record totals| — so a credit cannot hide an
unallocated charge of the same size. Commitment purchases are neither usage nor unallocated: on the actual
basis they are listed on their own and charged through the amortized view (:func:`purchase_note`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from aifinops.domain import Basis, from_nanos, to_nanos
from aifinops.engine.allocation import AllocationResult, Bucket

__all__ = [
    "BucketItem",
    "ChargebackCheck",
    "Showback",
    "ShowbackRow",
    "ShowbackTotal",
    "build_showback",
    "check_chargeback",
    "purchase_note",
]

_BUCKET_ORDER = {Bucket.ALLOCATED: 0, Bucket.IDLE: 1, Bucket.PURCHASES: 2, Bucket.UNALLOCATED: 3}


@dataclass(frozen=True, slots=True)
class ShowbackRow:
    """Cost of one owner (values of ``Showback.by``; empty for the other buckets) in one currency."""

    key: tuple[str, ...]
    bucket: Bucket
    currency: str
    amount_nanos: int
    records: int
    drivers: tuple[str, ...]  # "rule: driver" used for this row (purchases: what was bought), sorted


@dataclass(frozen=True, slots=True)
class ShowbackTotal:
    currency: str
    allocated_nanos: int
    idle_nanos: int
    purchases_nanos: int
    unallocated_nanos: int
    invoice_nanos: int  # Σ of the cost records; equals the four buckets' sum
    gross_nanos: int  # Σ |record|, the base of the unallocated share

    @property
    def total_nanos(self) -> int:
        return self.allocated_nanos + self.idle_nanos + self.purchases_nanos + self.unallocated_nanos


@dataclass(frozen=True, slots=True)
class BucketItem:
    """One cost record (or part of one) that no rule allocated, or a commitment purchase, with the reason."""

    billing_day: str
    resource_id: str
    meter: str
    charge_type: str
    amount_nanos: int
    currency: str
    reason: str


@dataclass(frozen=True, slots=True)
class Showback:
    period: str
    basis: Basis
    by: tuple[str, ...]
    rows: tuple[ShowbackRow, ...]
    totals: tuple[ShowbackTotal, ...]
    unallocated: tuple[BucketItem, ...]  # largest |amount| first
    purchases: tuple[BucketItem, ...] = ()  # commitment purchases, largest |amount| first


@dataclass(frozen=True, slots=True)
class ChargebackCheck:
    allowed: bool
    max_share: Decimal
    shares: tuple[tuple[str, Decimal], ...]  # (currency, gross unallocated share)
    largest: tuple[BucketItem, ...]

    def message(self) -> str:
        """Why chargeback is refused, naming the largest unallocated items; empty when allowed."""
        if self.allowed:
            return ""
        over = ", ".join(f"{c} {share:.2%}" for c, share in self.shares if share > self.max_share)
        items = "; ".join(
            f"{i.billing_day} {i.resource_id or '(no resource)'} {i.meter} {from_nanos(i.amount_nanos)} "
            f"{i.currency}: {i.reason}"
            for i in self.largest
        )
        return (
            f"unallocated share {over} exceeds the allowed {self.max_share:.2%}; "
            f"largest unallocated: {items}. "
            "Add or fix allocation rules (or tags), re-run allocation, or raise the allowed share."
        )


def _positions(result: AllocationResult, by: Sequence[str]) -> tuple[int, ...]:
    unknown = [d for d in by if d not in result.dimensions]
    if unknown:
        raise ValueError(
            f"cannot group by {unknown}: the allocation ran over {list(result.dimensions)}; "
            "re-run allocation with those dimensions or group by a subset"
        )
    return tuple(result.dimensions.index(d) for d in by)


def _group(result: AllocationResult, positions: tuple[int, ...]) -> list[ShowbackRow]:
    amounts: dict[tuple[tuple[str, ...], Bucket, str], int] = defaultdict(int)
    records: dict[tuple[tuple[str, ...], Bucket, str], set[int]] = defaultdict(set)
    drivers: dict[tuple[tuple[str, ...], Bucket, str], set[str]] = defaultdict(set)
    for line in result.lines:
        key = (
            tuple(line.dims[p] for p in positions)
            if line.bucket is Bucket.ALLOCATED
            else ("",) * len(positions)
        )
        group = (key, line.bucket, line.currency)
        amounts[group] += line.amount_nanos
        records[group].add(line.record)
        if line.rule:
            drivers[group].add(f"{line.rule}: {line.driver}")
        elif line.bucket is Bucket.PURCHASES:
            drivers[group].add(line.driver)
    rows = [
        ShowbackRow(
            key,
            bucket,
            currency,
            amount,
            len(records[(key, bucket, currency)]),
            tuple(sorted(drivers[(key, bucket, currency)])),
        )
        for (key, bucket, currency), amount in amounts.items()
    ]
    rows.sort(key=lambda r: (r.currency, _BUCKET_ORDER[r.bucket], -abs(r.amount_nanos), r.key))
    return rows


def _totals(result: AllocationResult) -> list[ShowbackTotal]:
    sums: dict[tuple[str, Bucket], int] = result.totals()
    invoice: dict[str, int] = defaultdict(int)
    gross: dict[str, int] = defaultdict(int)
    for record in result.records:
        nanos = to_nanos(record.cost)
        invoice[record.currency] += nanos
        gross[record.currency] += abs(nanos)
    return [
        ShowbackTotal(
            currency,
            sums.get((currency, Bucket.ALLOCATED), 0),
            sums.get((currency, Bucket.IDLE), 0),
            sums.get((currency, Bucket.PURCHASES), 0),
            sums.get((currency, Bucket.UNALLOCATED), 0),
            total,
            gross[currency],
        )
        for currency, total in sorted(invoice.items())
    ]


def _items(result: AllocationResult, bucket: Bucket) -> list[BucketItem]:
    items = []
    for line in result.lines:
        if line.bucket is not bucket:
            continue
        rec = result.records[line.record]
        meter = " / ".join(x for x in (rec.meter_category, rec.meter_name) if x) or rec.service_name or ""
        items.append(
            BucketItem(
                rec.billing_day.isoformat(),
                rec.resource_id or "",
                meter,
                rec.charge_type or "",
                line.amount_nanos,
                line.currency,
                line.reason,
            )
        )
    items.sort(key=lambda i: (-abs(i.amount_nanos), i.billing_day, i.resource_id, i.meter))
    return items


def build_showback(result: AllocationResult, *, by: Sequence[str], period: str, basis: Basis) -> Showback:
    """Regroup allocation lines by the ``by`` dimensions, with totals per currency equal to the invoice."""
    positions = _positions(result, by)
    return Showback(
        period,
        basis,
        tuple(by),
        tuple(_group(result, positions)),
        tuple(_totals(result)),
        tuple(_items(result, Bucket.UNALLOCATED)),
        tuple(_items(result, Bucket.PURCHASES)),
    )


def check_chargeback(showback: Showback, *, max_unallocated_share: Decimal, top: int = 5) -> ChargebackCheck:
    """Allow chargeback only while every currency's gross unallocated share is at most the limit."""
    gross_unallocated: dict[str, int] = defaultdict(int)
    for item in showback.unallocated:
        gross_unallocated[item.currency] += abs(item.amount_nanos)
    shares = tuple(
        (
            t.currency,
            Decimal(gross_unallocated[t.currency]) / Decimal(t.gross_nanos) if t.gross_nanos else Decimal(0),
        )
        for t in showback.totals
    )
    allowed = all(share <= max_unallocated_share for _, share in shares)
    return ChargebackCheck(allowed, max_unallocated_share, shares, showback.unallocated[:top])


def purchase_note(showback: Showback) -> str | None:
    """On the actual basis, what the commitment purchases were and that the amortized view charges them.

    None on the amortized basis (which spreads purchases over the usage they cover) or without purchases.
    """
    if showback.basis is not Basis.ACTUAL or not showback.purchases:
        return None
    sums: dict[str, int] = defaultdict(int)
    for item in showback.purchases:
        sums[item.currency] += item.amount_nanos
    amounts = ", ".join(f"{from_nanos(n):.2f} {c}" for c, n in sorted(sums.items()))
    bought = "; ".join(f"{i.billing_day} {i.meter or '(unnamed)'}" for i in showback.purchases[:5])
    return (
        f"commitment purchases of {amounts} ({bought}) are charged to no one on the actual basis: they are "
        "charged through the amortized view (--basis amortized), spread over the usage they cover"
    )
