"""Explicit table from real Azure Retail Prices meter names to what they price (model, version, SKU, meter).

Azure spells the same thing many ways (`Inp`, `Inpt`, `input`; `glbl`, `Gl`, `Global`; `Data Zone`, `DZone`,
`Dz`...) and the spelling differs per model, so this is a lookup table, not a parser
(reference/retail-prices.md §3.2). A name missing here is reported by the caller, never guessed.
Lookups ignore case and repeated spaces only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from types import MappingProxyType

from aifinops.domain import DeploymentType, MeterKind

__all__ = [
    "METERS",
    "PTU_HOUR",
    "UNSUPPORTED_METERS",
    "MeterSpec",
    "lookup_meter",
    "split_known",
    "unsupported_reason",
]

#: The unit of provisioned-throughput hourly prices. PTUs are metered once for all models, so these prices
#: carry the unit name as their model too (see engine.pricing.price_event).
PTU_HOUR = "ptu_hour"


@dataclass(frozen=True, slots=True)
class MeterSpec:
    """What one Azure meter prices."""

    model: str
    model_version: str | None
    deployment_type: DeploymentType
    meter_kind: MeterKind
    unit: str = "tokens"

    @property
    def priority(self) -> bool:
        return self.meter_kind in (
            MeterKind.PRIORITY_INPUT,
            MeterKind.PRIORITY_CACHED_INPUT,
            MeterKind.PRIORITY_OUTPUT,
        )


_G = DeploymentType.GLOBAL_STANDARD
_DZ = DeploymentType.DATA_ZONE_STANDARD
_R = DeploymentType.STANDARD
_GB = DeploymentType.GLOBAL_BATCH
_DZB = DeploymentType.DATA_ZONE_BATCH
_I, _C, _O = MeterKind.INPUT, MeterKind.CACHED_INPUT, MeterKind.OUTPUT
_PI = MeterKind.PRIORITY_INPUT

# (meterName as Azure returns it, model, version, deployment type, meter kind). Versions are the model
# versions Azure deploys (`0806` → `2024-08-06`); meters without a version digit map to None (any version).
_TOKEN_METERS: tuple[tuple[str, str, str | None, DeploymentType, MeterKind], ...] = (
    ("gpt 4o 0513 Input global Tokens", "gpt-4o", "2024-05-13", _G, _I),
    ("gpt 4o 0513 Output global Tokens", "gpt-4o", "2024-05-13", _G, _O),
    ("gpt 4o 0513 Input Data Zone Tokens", "gpt-4o", "2024-05-13", _DZ, _I),
    ("gpt 4o 0513 Input regional Tokens", "gpt-4o", "2024-05-13", _R, _I),
    ("gpt 4o 0513 Batch Inp glbl Tokens", "gpt-4o", "2024-05-13", _GB, _I),
    ("gpt 4o 0513 Batch Outp Data Zone Tokens", "gpt-4o", "2024-05-13", _DZB, _O),
    ("gpt-4o-0806-Inp-glbl Tokens", "gpt-4o", "2024-08-06", _G, _I),
    ("gpt-4o-0806-Outp-glbl Tokens", "gpt-4o", "2024-08-06", _G, _O),
    ("gpt-4o-0806-Inp-regnl Tokens", "gpt-4o", "2024-08-06", _R, _I),
    ("gpt 4o 0806 Inp Data Zone Tokens", "gpt-4o", "2024-08-06", _DZ, _I),
    ("gpt 4o 0806 cached Inp glbl Tokens", "gpt-4o", "2024-08-06", _G, _C),
    ("gpt 4o 0806 cached Inp regnl Tokens", "gpt-4o", "2024-08-06", _R, _C),
    ("gpt-4o-0806-Batch-Inp-glbl Tokens", "gpt-4o", "2024-08-06", _GB, _I),
    ("gpt 4o 0806 Batch Outp Data Zone Tokens", "gpt-4o", "2024-08-06", _DZB, _O),
    ("gpt 4o 1120 Inp glbl Tokens", "gpt-4o", "2024-11-20", _G, _I),
    ("gpt 4o 1120 Outp glbl Tokens", "gpt-4o", "2024-11-20", _G, _O),
    ("gpt 4o 1120 cached Inp glbl Tokens", "gpt-4o", "2024-11-20", _G, _C),
    ("gpt 4o 1120 Inp Data Zone Tokens", "gpt-4o", "2024-11-20", _DZ, _I),
    ("gpt 4o 1120 Outp regnl Tokens", "gpt-4o", "2024-11-20", _R, _O),
    ("gpt 4o 1120 Batch Inp glbl Tokens", "gpt-4o", "2024-11-20", _GB, _I),
    ("gpt-4o-mini-0718-Inp-glbl Tokens", "gpt-4o-mini", "2024-07-18", _G, _I),
    ("gpt-4o-mini-0718-Outp-glbl Tokens", "gpt-4o-mini", "2024-07-18", _G, _O),
    ("gpt-4o-mini-0718-Inp-regnl Tokens", "gpt-4o-mini", "2024-07-18", _R, _I),
    ("gpt 4o mini 0718 Inp Data Zone Tokens", "gpt-4o-mini", "2024-07-18", _DZ, _I),
    ("gpt 4o mini 0718 cached Inp glbl Tokens", "gpt-4o-mini", "2024-07-18", _G, _C),
    ("gpt-4o-mini-0718-Batch-Inp-glbl Tokens", "gpt-4o-mini", "2024-07-18", _GB, _I),
    ("gpt 4o mini0718 BatchOutp DataZone Tokens", "gpt-4o-mini", "2024-07-18", _DZB, _O),
    ("gpt 4.1 Inp glbl Tokens", "gpt-4.1", None, _G, _I),
    ("gpt 4.1 Outp glbl Tokens", "gpt-4.1", None, _G, _O),
    ("gpt 4.1 cached Inp glbl Tokens", "gpt-4.1", None, _G, _C),
    ("gpt 4.1 Inp Data Zone Tokens", "gpt-4.1", None, _DZ, _I),
    ("gpt 4.1 Outp Data Zone Tokens", "gpt-4.1", None, _DZ, _O),
    ("gpt 4.1 cached Inp Data Zone Tokens", "gpt-4.1", None, _DZ, _C),
    ("gpt 4.1 Inp regnl Tokens", "gpt-4.1", None, _R, _I),
    ("gpt 4.1 Batch Inp glbl Tokens", "gpt-4.1", None, _GB, _I),
    ("gpt 4.1 Batch Outp Data Zone Tokens", "gpt-4.1", None, _DZB, _O),
    ("gpt 4.1 mini Inp glbl Tokens", "gpt-4.1-mini", None, _G, _I),
    ("gpt 4.1 mini Outp glbl Tokens", "gpt-4.1-mini", None, _G, _O),
    ("gpt 4.1 mini cached Inp DZone Tokens", "gpt-4.1-mini", None, _DZ, _C),
    ("gpt 4.1 mini Batch Inp DZone Tokens", "gpt-4.1-mini", None, _DZB, _I),
    ("gpt 4.1 nano Inp glbl Tokens", "gpt-4.1-nano", None, _G, _I),
    ("gpt 4.1 nano Outp glbl Tokens", "gpt-4.1-nano", None, _G, _O),
    ("gpt 4.1 nano cached Inp glbl Tokens", "gpt-4.1-nano", None, _G, _C),
    ("gpt-4.1-ft input global Tokens", "gpt-4.1-ft", None, _G, _I),
    ("o1 1217 Inp glbl Tokens", "o1", "2024-12-17", _G, _I),
    ("o1 1217 Outp glbl Tokens", "o1", "2024-12-17", _G, _O),
    ("o1 1217 cached Inp glbl Tokens", "o1", "2024-12-17", _G, _C),
    ("o1 1217 Inp Data Zone Tokens", "o1", "2024-12-17", _DZ, _I),
    ("o1 1217 Outp regnl Tokens", "o1", "2024-12-17", _R, _O),
    ("o1 Batch Inp glbl Tokens", "o1", None, _GB, _I),
    ("o1 mini input glbl Tokens", "o1-mini", None, _G, _I),
    ("o1 mini output Data Zone Tokens", "o1-mini", None, _DZ, _O),
    ("o1 mini cached input regnl Tokens", "o1-mini", None, _R, _C),
    ("o3 0416 Inp glbl Tokens", "o3", "2025-04-16", _G, _I),
    ("o3 0416 Outp glbl Tokens", "o3", "2025-04-16", _G, _O),
    ("o3 0416 cached Inp glbl Tokens", "o3", "2025-04-16", _G, _C),
    ("o3 0416 Batch Inp Data Zone Tokens", "o3", "2025-04-16", _DZB, _I),
    ("o3 mini 0131 input glbl Tokens", "o3-mini", "2025-01-31", _G, _I),
    ("o3 mini 0131 output glbl Tokens", "o3-mini", "2025-01-31", _G, _O),
    ("o3 mini 0131 cached input Data Zone Tokens", "o3-mini", "2025-01-31", _DZ, _C),
    ("o3-pro Inp glbl Tokens", "o3-pro", None, _G, _I),
    ("o3-pro Batch Outp Data Zone Tokens", "o3-pro", None, _DZB, _O),
    ("o1-pro Inp glbl Tokens", "o1-pro", None, _G, _I),
    ("o4-mini 0416 Inp glbl Tokens", "o4-mini", "2025-04-16", _G, _I),
    ("o4-mini 0416 Outp Data Zone Tokens", "o4-mini", "2025-04-16", _DZ, _O),
    ("o3-deep research 0626-inp-glbl 1M Tokens", "o3-deep-research", "2025-06-26", _G, _I),
    ("GPT 5 Inpt Glbl 1M Tokens", "gpt-5", None, _G, _I),
    ("GPT 5 Inpt DZone 1M Tokens", "gpt-5", None, _DZ, _I),
    ("GPT 5 Batch Inpt cchd Glbl 1M Tokens", "gpt-5", None, _GB, _C),
    ("GPT 5 Chat Inpt Glbl 1M Tokens", "gpt-5-chat", None, _G, _I),
    ("GPT 5 Chat cchd Inpt Glbl 1M Tokens", "gpt-5-chat", None, _G, _C),
    ("GPT 5 Chat outpt Glbl 1M Tokens", "gpt-5-chat", None, _G, _O),
    ("GPT 5 Mini Inpt Glbl 1M Tokens", "gpt-5-mini", None, _G, _I),
    ("GPT 5 Mini cchd Inpt DZone 1M Tokens", "gpt-5-mini", None, _DZ, _C),
    ("GPT 5 Nano outpt Glbl 1M Tokens", "gpt-5-nano", None, _G, _O),
    ("gpt 5 pro inp glbl Tokens", "gpt-5-pro", None, _G, _I),
    ("5.1 codex inp Gl 1M Tokens", "gpt-5.1-codex", None, _G, _I),
    ("5.1 pp inp Dz 1M Tokens", "gpt-5.1", None, _DZ, _PI),
    ("5.4 inp Gl 1M Tokens", "gpt-5.4", None, _G, _I),
    ("5.4 cd inp Dz 1M Tokens", "gpt-5.4", None, _DZ, _C),
    ("5.4 opt Dz 1M Tokens", "gpt-5.4", None, _DZ, _O),
    ("5.4 Batch opt Gl 1M Tokens", "gpt-5.4", None, _GB, _O),
    ("5.4 mini Inp Gl 1M Tokens", "gpt-5.4-mini", None, _G, _I),
    ("text-embedding-3-small-glbl Tokens", "text-embedding-3-small", None, _G, _I),
    ("text-embedding-3-large-regional Tokens", "text-embedding-3-large", None, _R, _I),
    ("text embedding 3 large DZ Tokens", "text-embedding-3-large", None, _DZ, _I),
    ("embedding-ada-glbl Tokens", "text-embedding-ada-002", None, _G, _I),
    ("embedding-ada-datazone Tokens", "text-embedding-ada-002", None, _DZ, _I),
    ("gpt-oss-120B Inp glbl Tokens", "gpt-oss-120b", None, _G, _I),
    ("gpt-oss-120B Outp glbl Tokens", "gpt-oss-120b", None, _G, _O),
)

# Hourly and other non-token meters: (meterName, model, deployment type, unit). Provisioned throughput is
# one meter per deployment type for every model (reference §3.4); the legacy available/overage meters
# price different things at different rates, so each keeps a unit of its own.
_UNIT_METERS: tuple[tuple[str, str, DeploymentType, str], ...] = (
    ("Provisioned Managed Global Unit", PTU_HOUR, DeploymentType.GLOBAL_PROVISIONED, PTU_HOUR),
    ("Provisioned Managed Data Zone Unit", PTU_HOUR, DeploymentType.DATA_ZONE_PROVISIONED, PTU_HOUR),
    ("Provisioned Managed Regional Unit", PTU_HOUR, DeploymentType.PROVISIONED, PTU_HOUR),
    ("Provisioned Throughput Units", "ptu_month", DeploymentType.PROVISIONED, "ptu_month"),
    (
        "Provisioned Throughput - Available Unit",
        "ptu_hour_available",
        DeploymentType.PROVISIONED,
        "ptu_hour_available",
    ),
    (
        "Provisioned Throughput - Overage Unit",
        "ptu_hour_overage",
        DeploymentType.PROVISIONED,
        "ptu_hour_overage",
    ),
    ("gpt-4.1-ft hosting global Unit", "gpt-4.1-ft", _G, "hosting_hour"),
    ("gpt-4.1 FT Training global Tokens", "gpt-4.1-ft", _G, "training_tokens"),
)

#: Real meters we recognise but cannot price with our meter kinds, with the reason reported for each.
UNSUPPORTED_METERS: MappingProxyType[str, str] = MappingProxyType(
    {
        "5.4 longco inp Gl 1M Tokens": "long-context input tier (prompts past the long-context threshold) "
        "has no meter kind of its own; price long prompts with a price file",
        "GPT 5 Rsng Inpt Glbl 1M Tokens": "'Rsng' (reasoning) GPT 5 meter names no deployable model; "
        "set the price in a price file for the model you deploy",
    }
)


def _normalized(name: str) -> str:
    return " ".join(name.split()).casefold()


def _build() -> dict[str, MeterSpec]:
    table: dict[str, MeterSpec] = {}
    for name, model, version, deployment_type, kind in _TOKEN_METERS:
        table[_normalized(name)] = MeterSpec(model, version, deployment_type, kind)
    for name, model, deployment_type, unit in _UNIT_METERS:
        table[_normalized(name)] = MeterSpec(model, None, deployment_type, MeterKind.UNIT, unit)
    return table


_TABLE = _build()
#: Every known meter name (as Azure spells it) → what it prices.
METERS: MappingProxyType[str, MeterSpec] = MappingProxyType(
    {name: _TABLE[_normalized(name)] for name in [m[0] for m in _TOKEN_METERS] + [m[0] for m in _UNIT_METERS]}
)
_UNSUPPORTED = {_normalized(name): reason for name, reason in UNSUPPORTED_METERS.items()}


def lookup_meter(meter_name: str) -> MeterSpec | None:
    """What ``meter_name`` prices, or None when the table does not know it.

    >>> spec = lookup_meter("gpt 4o 1120 cached Inp glbl Tokens")
    >>> spec.model, spec.model_version, spec.deployment_type.value, spec.meter_kind.value
    ('gpt-4o', '2024-11-20', 'global_standard', 'cached_input')
    """
    return _TABLE.get(_normalized(meter_name))


def unsupported_reason(meter_name: str) -> str | None:
    """Why a recognised meter cannot be priced, or None."""
    return _UNSUPPORTED.get(_normalized(meter_name))


def split_known(meter_names: Iterable[str]) -> tuple[dict[str, MeterSpec], list[str]]:
    """Known meters with their specs, and the unknown or unsupported names (sorted, once each)."""
    known: dict[str, MeterSpec] = {}
    skipped: set[str] = set()
    for name in meter_names:
        spec = lookup_meter(name)
        if spec is None:
            skipped.add(name)
        else:
            known[name] = spec
    return known, sorted(skipped)
