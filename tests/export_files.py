"""Generated cost-export files of one month: the same bill as an EA ActualCost file and as a FOCUS file.

The month (October 2026, EUR, one EA enrollment) has daily usage on two resources with ten-decimal costs, a
reservation purchase on the 3rd and a refund on the 20th, so that truncations and double counts are visible
in the totals. :data:`MONTH_TOTAL` is what either file adds up to.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

__all__ = ["ACCOUNT", "MONTH_START", "MONTH_TOTAL", "SUBSCRIPTION", "BillRow", "bill", "ea_csv", "focus_csv"]

ACCOUNT = "76543210"
SUBSCRIPTION = "4f0c2b1e-0000-4000-8000-00000000e0e0"
MONTH_START = dt.date(2026, 10, 1)
_RG = "rg-ai"
_GROUP = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{_RG}"
_AOAI = f"{_GROUP}/providers/Microsoft.CognitiveServices/accounts/aoai-eu"
_SEARCH = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{_RG}/providers/Microsoft.Search/searchServices/srch-eu"
)


_SEARCH_DAY, _ONE = Decimal("6.3870967742"), Decimal(1)


@dataclass(frozen=True, slots=True)
class BillRow:
    day: dt.date
    resource_id: str
    meter: str
    category: str
    charge_type: str  # Usage, Purchase, Refund
    cost: Decimal
    quantity: Decimal


def bill() -> list[BillRow]:
    """The month's rows, ordered by day as Azure writes them."""
    rows = []
    for i in range(31):
        day = MONTH_START + dt.timedelta(days=i)
        tokens = Decimal("31.4159265358") + Decimal(i) * Decimal("0.0000000001")
        rows.append(
            BillRow(
                day, _AOAI, "gpt 4.1 Inp glbl Tokens", "Foundry Models", "Usage", tokens, Decimal(12000 + i)
            )
        )
        rows.append(BillRow(day, _SEARCH, "Standard S1 Unit", "Azure AI Search", "Usage", _SEARCH_DAY, _ONE))
        if i == 2:
            rows.append(
                BillRow(day, "", "Reservation purchase", "Foundry Models", "Purchase", Decimal(250), _ONE)
            )
        if i == 19:
            rows.append(
                BillRow(day, "", "Reservation refund", "Foundry Models", "Refund", Decimal("-40.125"), _ONE)
            )
    return rows


MONTH_TOTAL: Decimal = sum((r.cost for r in bill()), Decimal(0))

_EA_HEADER = (
    "BillingAccountId,BillingAccountName,BillingPeriodStartDate,BillingPeriodEndDate,BillingProfileId,"
    "SubscriptionId,SubscriptionName,Date,MeterId,MeterCategory,MeterSubCategory,MeterName,Quantity,"
    "EffectivePrice,CostInBillingCurrency,BillingCurrencyCode,ResourceLocation,ConsumedService,ResourceId,"
    "Tags,UnitOfMeasure,ResourceGroup,ChargeType,Frequency,PricingModel"
)

_FOCUS_HEADER = (
    "BilledCost,BillingAccountId,BillingAccountName,BillingCurrency,BillingPeriodEnd,BillingPeriodStart,"
    "ChargeCategory,ChargeClass,ChargeDescription,ChargePeriodEnd,ChargePeriodStart,ConsumedQuantity,"
    "ConsumedUnit,EffectiveCost,PricingCategory,RegionId,ResourceId,ServiceName,SkuMeter,SubAccountId,Tags,"
    "x_ResourceGroupName,x_SkuMeterCategory,x_SkuMeterId"
)


def _write(header: str, rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header.split(","))
    writer.writerows(rows)
    return out.getvalue()


def ea_csv(rows: list[BillRow] | None = None) -> str:
    """The month as an EA cost-details ActualCost file (MM/DD/YYYY dates, tags without braces)."""
    out = []
    for r in rows if rows is not None else bill():
        usage = r.charge_type == "Usage"
        out.append(
            [
                ACCOUNT,
                "Contoso EU",
                "10/01/2026",
                "10/31/2026",
                ACCOUNT,
                SUBSCRIPTION,
                "AI prod",
                r.day.strftime("%m/%d/%Y"),
                f"meter-{r.meter[:4]}",
                r.category,
                "",
                r.meter,
                str(r.quantity),
                str(r.cost),
                str(r.cost),
                "EUR",
                "swedencentral",
                "Microsoft.CognitiveServices",
                r.resource_id,
                '"team": "search"' if usage else "",
                "1K",
                _RG if usage else "",
                r.charge_type,
                "UsageBased" if usage else "OneTime",
                "OnDemand" if usage else "Reservation",
            ]
        )
    return _write(_EA_HEADER, out)


def focus_csv(rows: list[BillRow] | None = None) -> str:
    """The same month as a FOCUS 1.0 file (billed and effective cost; purchases amortized away)."""
    out = []
    for r in rows if rows is not None else bill():
        usage = r.charge_type == "Usage"
        start = f"{r.day.isoformat()}T00:00:00Z"
        end = f"{(r.day + dt.timedelta(days=1)).isoformat()}T00:00:00Z"
        out.append(
            [
                str(r.cost),
                f"/providers/Microsoft.Billing/billingAccounts/{ACCOUNT}",
                "Contoso EU",
                "EUR",
                "2026-11-01T00:00:00Z",
                "2026-10-01T00:00:00Z",
                "Usage" if usage else "Purchase",
                "" if r.charge_type != "Refund" else "Correction",
                r.meter,
                end,
                start,
                str(r.quantity),
                "1K",
                str(r.cost) if usage else "0",
                "Standard" if usage else "Committed",
                "swedencentral",
                r.resource_id,
                r.category,
                r.meter,
                SUBSCRIPTION,
                '{"team": "search"}' if usage else "",
                _RG if usage else "",
                r.category,
                f"meter-{r.meter[:4]}",
            ]
        )
    return _write(_FOCUS_HEADER, out)


def write(folder: Path, name: str, text: str) -> Path:
    """Write ``text`` as ``folder/name`` (UTF-8, as exports are) and return the path."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path
