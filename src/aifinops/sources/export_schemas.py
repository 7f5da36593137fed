"""Formats of Azure cost exports: column maps (EA, MCA, legacy pay-as-you-go, FOCUS 1.0–1.2), header detection
and the manifest.json of an export run (reference/cost-management.md §4.2).

Headers are matched case-insensitively because EA files are PascalCase and MCA files mostly camelCase
(reference/cost-export-columns.md §3). Which column is "cost", per schema and basis:

=========  ==========================================  ==========================================
schema     actual                                      amortized
=========  ==========================================  ==========================================
EA         CostInBillingCurrency (older files: Cost)   same column of the AmortizedCost file
MCA        costInBillingCurrency                       same column of the AmortizedCost file
PAYG       PreTaxCost (legacy usage = actual)          (not produced by Azure)
FOCUS      BilledCost                                  EffectiveCost (same file holds both)
=========  ==========================================  ==========================================

The currency is the billing currency of that cost column (BillingCurrencyCode / billingCurrency /
Currency / FOCUS BillingCurrency).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import orjson

from aifinops.domain import Basis
from aifinops.errors import SourceFormatError

__all__ = [
    "REQUIRED_FIELDS",
    "ExportManifest",
    "ExportSchema",
    "SchemaKind",
    "detect_schema",
    "parse_manifest",
]


class SchemaKind(StrEnum):
    """The cost-file families we read."""

    EA = "ea"
    MCA = "mca"
    PAYG = "payg"
    FOCUS = "focus"


#: A row cannot be used without these; a file whose header lacks one of them is refused.
REQUIRED_FIELDS: tuple[str, ...] = ("billing_day", "cost")

# Candidate header names per field, first match wins. Lower-cased at lookup.
_COST_DETAILS: Mapping[str, tuple[str, ...]] = {
    "billing_day": ("Date", "UsageDateTime", "UsageDate"),
    "cost": ("CostInBillingCurrency", "Cost", "PreTaxCost"),
    "currency": ("BillingCurrencyCode", "BillingCurrency", "Currency"),
    "subscription_id": ("SubscriptionId", "SubscriptionGuid"),
    "resource_group": ("ResourceGroup", "ResourceGroupName"),
    "resource_id": ("ResourceId", "InstanceId"),
    # The normalized region first: ResourceLocation is whatever the resource provider reported.
    "location": ("ResourceLocationNormalized", "Location", "ResourceLocation"),
    "service_name": ("ServiceName", "ConsumedService"),
    "meter_category": ("MeterCategory",),
    "meter_subcategory": ("MeterSubCategory",),
    "meter_name": ("MeterName",),
    "meter_id": ("MeterId",),
    "charge_type": ("ChargeType",),
    "pricing_model": ("PricingModel",),
    "quantity": ("Quantity", "UsageQuantity"),
    "unit": ("UnitOfMeasure",),
    "tags": ("Tags",),
    # The billing scope a row belongs to, as the file states it: an EA enrollment (its billing profile id is
    # the enrollment number too) or an MCA billing profile, which is what FOCUS calls BillingAccountId.
    "billing_scope": ("BillingProfileId", "BillingAccountId"),
}

_FOCUS: Mapping[str, tuple[str, ...]] = {
    "billing_day": ("ChargePeriodStart",),
    "currency": ("BillingCurrency",),
    "subscription_id": ("SubAccountId",),
    "resource_group": ("x_ResourceGroupName",),
    "resource_id": ("ResourceId",),
    "location": ("RegionId", "RegionName"),
    "service_name": ("ServiceName",),
    "meter_category": ("x_SkuMeterCategory", "ServiceCategory"),
    "meter_subcategory": ("x_SkuMeterSubcategory", "ServiceSubcategory"),
    "meter_name": ("SkuMeter", "x_SkuMeterName"),
    "meter_id": ("x_SkuMeterId", "SkuId"),
    "charge_type": ("ChargeCategory",),
    "pricing_model": ("PricingCategory",),
    "quantity": ("ConsumedQuantity",),
    "unit": ("ConsumedUnit",),
    "tags": ("Tags",),
    "billing_scope": ("BillingAccountId",),
}
_FOCUS_COST = {Basis.ACTUAL: "BilledCost", Basis.AMORTIZED: "EffectiveCost"}

# A portal download in another language writes "Abonnement-GUID (SubscriptionGuid)": we refuse to guess
# from such headers rather than silently mis-map a column.
_LOCALIZED = re.compile(r"[^\x00-\x7f]|\s\([A-Za-z0-9]+\)\s*$")


@dataclass(frozen=True, slots=True)
class ExportSchema:
    """A detected file schema: its family, version hint and the header column read for each field."""

    kind: SchemaKind
    version: str
    columns: Mapping[str, str]  # canonical field -> header name as written in the file
    bases: tuple[Basis, ...]  # bases this file can yield

    def column_for(self, field_name: str, basis: Basis) -> str | None:
        """The file header holding ``field_name`` for ``basis`` (FOCUS keeps one cost column per basis)."""
        if field_name == "cost" and self.kind is SchemaKind.FOCUS:
            return self.columns.get(f"cost_{basis.value}")
        return self.columns.get(field_name)


def _match(header: Sequence[str], table: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    by_lower = {name.strip().lower(): name for name in header}
    found: dict[str, str] = {}
    for field_name, candidates in table.items():
        for candidate in candidates:
            if candidate.lower() in by_lower:
                found[field_name] = by_lower[candidate.lower()]
                break
    return found


def _focus_version(lower: set[str]) -> str:
    if lower & {"invoiceid", "pricingcurrency", "billingaccounttype", "subaccounttype"}:
        return "1.2"
    if lower & {"skumeter", "skupricedetails", "servicesubcategory", "commitmentdiscountquantity"}:
        return "1.1"
    return "1.0"


def _cost_details_kind(lower: set[str], columns: Mapping[str, str]) -> tuple[SchemaKind, str]:
    if columns.get("cost", "").lower() == "pretaxcost":
        return SchemaKind.PAYG, "legacy"
    if (
        lower & {"billingprofileid", "costinusd", "pricingcurrency", "invoiceid"}
        and "costinbillingcurrency" in lower
    ):
        mca_camel = any(
            h.startswith("cost") for h in columns.values() if h.lower() == "costinbillingcurrency"
        )
        if mca_camel or "costinusd" in lower:
            return SchemaKind.MCA, "2023-12-01-preview" if "benefitid" in lower else "2021-10-01"
    if "resourcelocationnormalized" in lower:
        return SchemaKind.EA, "2024-08-01"
    if "benefitid" in lower:
        return SchemaKind.EA, "2023-12-01-preview"
    return SchemaKind.EA, "2021-10-01"


def detect_schema(header: Sequence[str], *, file: str) -> ExportSchema:
    """Detect the schema of a cost file from its header row.

    Raises SourceFormatError naming the file and the columns it could not map when the header is localized
    or lacks a required field (a date and a cost).
    """
    cleaned = [h.lstrip("\ufeff").strip() for h in header]
    localized = [h for h in cleaned if _LOCALIZED.search(h)]
    if localized:
        raise SourceFormatError(
            f"{file}: cannot map localized column(s) {localized}; Cost Management exports and the cost "
            "details API write English headers - download the file as an export or set the portal to English"
        )
    lower = {h.lower() for h in cleaned}
    if {"billedcost", "effectivecost", "chargeperiodstart"} <= lower:
        columns = _match(cleaned, _FOCUS)
        for basis, name in _FOCUS_COST.items():
            columns[f"cost_{basis.value}"] = next(h for h in cleaned if h.lower() == name.lower())
        return ExportSchema(
            SchemaKind.FOCUS,
            _focus_version(lower),
            MappingProxyType(columns),
            (Basis.ACTUAL, Basis.AMORTIZED),
        )
    columns = _match(cleaned, _COST_DETAILS)
    missing = [f for f in REQUIRED_FIELDS if f not in columns]
    if missing:
        wanted = {f: list(_COST_DETAILS[f]) for f in missing}
        raise SourceFormatError(
            f"{file}: no column for {missing} (looked for {wanted}); could not map columns {cleaned[:60]}; "
            "expected an EA/MCA cost-details, legacy usage or FOCUS 1.0-1.2 header"
        )
    kind, version = _cost_details_kind(lower, columns)
    bases = (Basis.ACTUAL,) if kind is SchemaKind.PAYG else (Basis.ACTUAL, Basis.AMORTIZED)
    return ExportSchema(kind, version, MappingProxyType(columns), bases)


_TYPE_BASES: Mapping[str, tuple[Basis, ...]] = {
    "actualcost": (Basis.ACTUAL,),
    "usage": (Basis.ACTUAL,),
    "amortizedcost": (Basis.AMORTIZED,),
    "focuscost": (Basis.ACTUAL, Basis.AMORTIZED),
}
_EXPORTS_SEGMENT = "/providers/microsoft.costmanagement/exports/"


@dataclass(frozen=True, slots=True)
class ExportManifest:
    """One export run as its ``manifest.json`` describes it. ``end`` is exclusive."""

    export_name: str
    export_type: str
    data_version: str | None
    scope: str  # lower-cased, no leading slash: the text before /providers/Microsoft.CostManagement/exports/
    run_id: str
    start: dt.date
    end: dt.date
    blobs: tuple[str, ...]  # container-relative names, in manifest order
    submitted: dt.datetime | None
    #: Per blob (same order): its ``byteCount`` and ``dataRowCount`` as the manifest states them, or None.
    blob_counts: tuple[tuple[int | None, int | None], ...] = ()

    @property
    def bases(self) -> tuple[Basis, ...]:
        """The bases the run's files carry (a FOCUS file holds both billed and effective cost)."""
        return _TYPE_BASES[self.export_type.lower()]


def _get(data: Mapping[str, Any], *path: str) -> Any:
    value: Any = data
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def _day(value: Any, *, name: str, key: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise SourceFormatError(f"{name}: {key} {value!r} is not an ISO date-time") from exc


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def parse_manifest(payload: bytes | str, *, name: str) -> ExportManifest:
    """Parse an export run's ``manifest.json``; SourceFormatError names the file and the field at fault.

    ``runInfo.endDate`` is midnight after the last day exported, so it is used as the exclusive end; a
    date-only or non-midnight end is taken as the last day included.
    """
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise SourceFormatError(f"{name}: not JSON: {exc}") from exc
    export_type = str(_get(data, "exportConfig", "type") or "")
    if export_type.lower() not in _TYPE_BASES:
        raise SourceFormatError(
            f"{name}: exportConfig.type {export_type!r} is not a cost export; "
            f"expected one of ActualCost, AmortizedCost, FocusCost, Usage"
        )
    resource_id = str(_get(data, "exportConfig", "resourceId") or "")
    cut = resource_id.lower().find(_EXPORTS_SEGMENT)
    if cut < 0:
        raise SourceFormatError(
            f"{name}: exportConfig.resourceId {resource_id!r} is not an export resource id"
        )
    start = _day(_get(data, "runInfo", "startDate"), name=name, key="runInfo.startDate")
    end = _day(_get(data, "runInfo", "endDate"), name=name, key="runInfo.endDate")
    end_day = (
        end.date()
        if end.time() == dt.time(0) and end.date() > start.date()
        else end.date() + dt.timedelta(days=1)
    )
    listed = [b for b in data.get("blobs") or [] if isinstance(b, Mapping) and b.get("blobName")]
    blobs = tuple(str(b.get("blobName")) for b in listed)
    counts = tuple((_count(b.get("byteCount")), _count(b.get("dataRowCount"))) for b in listed)
    submitted = _get(data, "runInfo", "submittedTime")
    return ExportManifest(
        export_name=str(
            _get(data, "exportConfig", "exportName") or resource_id[cut + len(_EXPORTS_SEGMENT) :]
        ),
        export_type=export_type,
        data_version=_get(data, "exportConfig", "dataVersion"),
        scope=resource_id[:cut].strip("/").lower(),
        run_id=str(_get(data, "runInfo", "runId") or ""),
        start=start.date(),
        end=end_day,
        blobs=blobs,
        blob_counts=counts,
        submitted=_day(submitted[:26].rstrip("Z") + "+00:00", name=name, key="runInfo.submittedTime")
        if submitted
        else None,
    )
