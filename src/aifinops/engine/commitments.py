"""Commitment purchases — reservations and savings plans bought — among cost records (pure).

In actual cost a commitment is billed when it is bought, as one ``Purchase`` row (``Refund`` when returned),
while the usage it covers costs 0; amortized cost spreads the purchase over that usage instead
(reference/cost-export-columns.md §1). A purchase is therefore no one's usage on the actual basis: allocation
keeps it in its own bucket, and chargeback charges it through the amortized view.
"""

from __future__ import annotations

from aifinops.domain import CostRecord

__all__ = ["commitment_purchase"]

_PURCHASE_CHARGES = frozenset({"purchase", "refund"})
_NOT_COMMITTED = frozenset({"ondemand", "spot"})  # a Marketplace purchase, say: bought, but no commitment
_COMMITTED = frozenset({"reservation", "savingsplan"})
#: Meter wording of commitments: "Azure AI Foundry Provisioned Throughput Reservation", "Provisioned Managed
#: Global Unit" (PTU, reservable), savings plans, the legacy PTU "Commitment model".
_COMMITMENT_WORDS = ("reservation", "reserved", "savings plan", "commitment", "provisioned")


def commitment_purchase(record: CostRecord) -> str | None:
    """What a record buys, as ``reservation <meter>`` or ``savings plan <meter>``; None for no purchase.

    With a charge type, a ``Purchase`` or ``Refund`` is one when its pricing model is a commitment
    (``Reservation``, ``SavingsPlan``), or is missing and the row has no resource; an on-demand or spot one
    (a Marketplace purchase) or a refund on a resource is not. The Cost Management Query API drops ChargeType
    when rows are grouped by resource and meter; without it, a row with no resource whose pricing model is a
    commitment, or whose meter names one, is a purchase: usage always has a resource.

    >>> import datetime as dt; from decimal import Decimal; from aifinops.domain import Basis
    >>> commitment_purchase(CostRecord(dt.date(2026, 11, 1), Basis.ACTUAL, Decimal(2600), "USD",
    ...                                meter_name="Provisioned Managed Global Unit"))
    'reservation Provisioned Managed Global Unit'
    """
    charge = record.charge_type.strip().lower() if record.charge_type else ""
    if (charge and charge not in _PURCHASE_CHARGES) or (not charge and record.resource_id):
        return None
    pricing = (record.pricing_model or "").replace(" ", "").lower()
    names = [
        n
        for n in (record.meter_name, record.meter_subcategory, record.meter_category, record.service_name)
        if n
    ]
    lowered = " ".join(names).lower()
    named = any(word in lowered for word in _COMMITMENT_WORDS)
    if pricing in _NOT_COMMITTED:
        return None
    if pricing not in _COMMITTED and (record.resource_id or not (charge or named)):
        return None
    if pricing == "savingsplan" or "savings plan" in lowered:
        kind = "savings plan"
    else:
        kind = "reservation" if pricing == "reservation" or named else "purchase"
    return f"{kind} {names[0] if names else '(unnamed)'}"
