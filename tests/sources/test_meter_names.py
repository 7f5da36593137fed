"""Tests of the meter-name table: every real meter of reference/retail-prices.md §3.3–3.4 maps as expected."""

from __future__ import annotations

import pytest

from aifinops.domain import DeploymentType, MeterKind
from aifinops.sources.meter_names import (
    METERS,
    PTU_HOUR,
    UNSUPPORTED_METERS,
    lookup_meter,
    split_known,
    unsupported_reason,
)

# meterName | model | version ("-" = none) | deployment type | meter kind — copied from the reference.
EXPECTED = """
gpt 4o 0513 Input global Tokens | gpt-4o | 2024-05-13 | global_standard | input
gpt 4o 0513 Output global Tokens | gpt-4o | 2024-05-13 | global_standard | output
gpt 4o 0513 Input Data Zone Tokens | gpt-4o | 2024-05-13 | data_zone_standard | input
gpt 4o 0513 Input regional Tokens | gpt-4o | 2024-05-13 | standard | input
gpt 4o 0513 Batch Inp glbl Tokens | gpt-4o | 2024-05-13 | global_batch | input
gpt 4o 0513 Batch Outp Data Zone Tokens | gpt-4o | 2024-05-13 | data_zone_batch | output
gpt-4o-0806-Inp-glbl Tokens | gpt-4o | 2024-08-06 | global_standard | input
gpt-4o-0806-Outp-glbl Tokens | gpt-4o | 2024-08-06 | global_standard | output
gpt-4o-0806-Inp-regnl Tokens | gpt-4o | 2024-08-06 | standard | input
gpt 4o 0806 Inp Data Zone Tokens | gpt-4o | 2024-08-06 | data_zone_standard | input
gpt 4o 0806 cached Inp glbl Tokens | gpt-4o | 2024-08-06 | global_standard | cached_input
gpt 4o 0806 cached Inp regnl Tokens | gpt-4o | 2024-08-06 | standard | cached_input
gpt-4o-0806-Batch-Inp-glbl Tokens | gpt-4o | 2024-08-06 | global_batch | input
gpt 4o 0806 Batch Outp Data Zone Tokens | gpt-4o | 2024-08-06 | data_zone_batch | output
gpt 4o 1120 Inp glbl Tokens | gpt-4o | 2024-11-20 | global_standard | input
gpt 4o 1120 Outp glbl Tokens | gpt-4o | 2024-11-20 | global_standard | output
gpt 4o 1120 cached Inp glbl Tokens | gpt-4o | 2024-11-20 | global_standard | cached_input
gpt 4o 1120 Inp Data Zone Tokens | gpt-4o | 2024-11-20 | data_zone_standard | input
gpt 4o 1120 Outp regnl Tokens | gpt-4o | 2024-11-20 | standard | output
gpt 4o 1120 Batch Inp glbl Tokens | gpt-4o | 2024-11-20 | global_batch | input
gpt-4o-mini-0718-Inp-glbl Tokens | gpt-4o-mini | 2024-07-18 | global_standard | input
gpt-4o-mini-0718-Outp-glbl Tokens | gpt-4o-mini | 2024-07-18 | global_standard | output
gpt-4o-mini-0718-Inp-regnl Tokens | gpt-4o-mini | 2024-07-18 | standard | input
gpt 4o mini 0718 Inp Data Zone Tokens | gpt-4o-mini | 2024-07-18 | data_zone_standard | input
gpt 4o mini 0718 cached Inp glbl Tokens | gpt-4o-mini | 2024-07-18 | global_standard | cached_input
gpt-4o-mini-0718-Batch-Inp-glbl Tokens | gpt-4o-mini | 2024-07-18 | global_batch | input
gpt 4o mini0718 BatchOutp DataZone Tokens | gpt-4o-mini | 2024-07-18 | data_zone_batch | output
gpt 4.1 Inp glbl Tokens | gpt-4.1 | - | global_standard | input
gpt 4.1 Outp glbl Tokens | gpt-4.1 | - | global_standard | output
gpt 4.1 cached Inp glbl Tokens | gpt-4.1 | - | global_standard | cached_input
gpt 4.1 Inp Data Zone Tokens | gpt-4.1 | - | data_zone_standard | input
gpt 4.1 Outp Data Zone Tokens | gpt-4.1 | - | data_zone_standard | output
gpt 4.1 cached Inp Data Zone Tokens | gpt-4.1 | - | data_zone_standard | cached_input
gpt 4.1 Inp regnl Tokens | gpt-4.1 | - | standard | input
gpt 4.1 Batch Inp glbl Tokens | gpt-4.1 | - | global_batch | input
gpt 4.1 Batch Outp Data Zone Tokens | gpt-4.1 | - | data_zone_batch | output
gpt 4.1 mini Inp glbl Tokens | gpt-4.1-mini | - | global_standard | input
gpt 4.1 mini Outp glbl Tokens | gpt-4.1-mini | - | global_standard | output
gpt 4.1 mini cached Inp DZone Tokens | gpt-4.1-mini | - | data_zone_standard | cached_input
gpt 4.1 mini Batch Inp DZone Tokens | gpt-4.1-mini | - | data_zone_batch | input
gpt 4.1 nano Inp glbl Tokens | gpt-4.1-nano | - | global_standard | input
gpt 4.1 nano Outp glbl Tokens | gpt-4.1-nano | - | global_standard | output
gpt 4.1 nano cached Inp glbl Tokens | gpt-4.1-nano | - | global_standard | cached_input
gpt-4.1-ft input global Tokens | gpt-4.1-ft | - | global_standard | input
o1 1217 Inp glbl Tokens | o1 | 2024-12-17 | global_standard | input
o1 1217 Outp glbl Tokens | o1 | 2024-12-17 | global_standard | output
o1 1217 cached Inp glbl Tokens | o1 | 2024-12-17 | global_standard | cached_input
o1 1217 Inp Data Zone Tokens | o1 | 2024-12-17 | data_zone_standard | input
o1 1217 Outp regnl Tokens | o1 | 2024-12-17 | standard | output
o1 Batch Inp glbl Tokens | o1 | - | global_batch | input
o1 mini input glbl Tokens | o1-mini | - | global_standard | input
o1 mini output Data Zone Tokens | o1-mini | - | data_zone_standard | output
o1 mini cached input regnl Tokens | o1-mini | - | standard | cached_input
o3 0416 Inp glbl Tokens | o3 | 2025-04-16 | global_standard | input
o3 0416 Outp glbl Tokens | o3 | 2025-04-16 | global_standard | output
o3 0416 cached Inp glbl Tokens | o3 | 2025-04-16 | global_standard | cached_input
o3 0416 Batch Inp Data Zone Tokens | o3 | 2025-04-16 | data_zone_batch | input
o3 mini 0131 input glbl Tokens | o3-mini | 2025-01-31 | global_standard | input
o3 mini 0131 output glbl Tokens | o3-mini | 2025-01-31 | global_standard | output
o3 mini 0131 cached input Data Zone Tokens | o3-mini | 2025-01-31 | data_zone_standard | cached_input
o3-pro Inp glbl Tokens | o3-pro | - | global_standard | input
o3-pro Batch Outp Data Zone Tokens | o3-pro | - | data_zone_batch | output
o1-pro Inp glbl Tokens | o1-pro | - | global_standard | input
o4-mini 0416 Inp glbl Tokens | o4-mini | 2025-04-16 | global_standard | input
o4-mini 0416 Outp Data Zone Tokens | o4-mini | 2025-04-16 | data_zone_standard | output
o3-deep research 0626-inp-glbl 1M Tokens | o3-deep-research | 2025-06-26 | global_standard | input
GPT 5 Inpt Glbl 1M Tokens | gpt-5 | - | global_standard | input
GPT 5 Inpt DZone 1M Tokens | gpt-5 | - | data_zone_standard | input
GPT 5 Batch Inpt cchd Glbl 1M Tokens | gpt-5 | - | global_batch | cached_input
GPT 5 Chat Inpt Glbl 1M Tokens | gpt-5-chat | - | global_standard | input
GPT 5 Chat cchd Inpt Glbl 1M Tokens | gpt-5-chat | - | global_standard | cached_input
GPT 5 Chat outpt Glbl 1M Tokens | gpt-5-chat | - | global_standard | output
GPT 5 Mini Inpt Glbl 1M Tokens | gpt-5-mini | - | global_standard | input
GPT 5 Mini cchd Inpt DZone 1M Tokens | gpt-5-mini | - | data_zone_standard | cached_input
GPT 5 Nano outpt Glbl 1M Tokens | gpt-5-nano | - | global_standard | output
gpt 5 pro inp glbl Tokens | gpt-5-pro | - | global_standard | input
5.1 codex inp Gl 1M Tokens | gpt-5.1-codex | - | global_standard | input
5.1 pp inp Dz 1M Tokens | gpt-5.1 | - | data_zone_standard | priority_input
5.4 inp Gl 1M Tokens | gpt-5.4 | - | global_standard | input
5.4 cd inp Dz 1M Tokens | gpt-5.4 | - | data_zone_standard | cached_input
5.4 opt Dz 1M Tokens | gpt-5.4 | - | data_zone_standard | output
5.4 Batch opt Gl 1M Tokens | gpt-5.4 | - | global_batch | output
5.4 mini Inp Gl 1M Tokens | gpt-5.4-mini | - | global_standard | input
text-embedding-3-small-glbl Tokens | text-embedding-3-small | - | global_standard | input
text-embedding-3-large-regional Tokens | text-embedding-3-large | - | standard | input
embedding-ada-glbl Tokens | text-embedding-ada-002 | - | global_standard | input
embedding-ada-datazone Tokens | text-embedding-ada-002 | - | data_zone_standard | input
text embedding 3 large DZ Tokens | text-embedding-3-large | - | data_zone_standard | input
gpt-oss-120B Inp glbl Tokens | gpt-oss-120b | - | global_standard | input
gpt-oss-120B Outp glbl Tokens | gpt-oss-120b | - | global_standard | output
"""

# meterName | model | deployment type | unit — hourly and other non-token meters (MeterKind.UNIT).
EXPECTED_UNITS = """
Provisioned Managed Global Unit | ptu_hour | global_provisioned | ptu_hour
Provisioned Managed Data Zone Unit | ptu_hour | data_zone_provisioned | ptu_hour
Provisioned Managed Regional Unit | ptu_hour | provisioned | ptu_hour
Provisioned Throughput Units | ptu_month | provisioned | ptu_month
Provisioned Throughput - Available Unit | ptu_hour_available | provisioned | ptu_hour_available
Provisioned Throughput - Overage Unit | ptu_hour_overage | provisioned | ptu_hour_overage
gpt-4.1-ft hosting global Unit | gpt-4.1-ft | global_standard | hosting_hour
gpt-4.1 FT Training global Tokens | gpt-4.1-ft | global_standard | training_tokens
"""


def _rows(table: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.split("|")] for line in table.strip().splitlines()]


@pytest.mark.parametrize(("name", "model", "version", "deployment", "kind"), _rows(EXPECTED))
def test_token_meter_maps_to_model_version_deployment_type_and_meter(
    name: str, model: str, version: str, deployment: str, kind: str
) -> None:
    spec = lookup_meter(name)
    assert spec is not None, f"{name!r} is missing from the table"
    assert (spec.model, spec.model_version, spec.deployment_type, spec.meter_kind, spec.unit) == (
        model,
        None if version == "-" else version,
        DeploymentType(deployment),
        MeterKind(kind),
        "tokens",
    )
    assert spec.priority is kind.startswith("priority_")


@pytest.mark.parametrize(("name", "model", "deployment", "unit"), _rows(EXPECTED_UNITS))
def test_hourly_and_other_non_token_meters_map_to_unit_prices(
    name: str, model: str, deployment: str, unit: str
) -> None:
    spec = lookup_meter(name)
    assert spec is not None, f"{name!r} is missing from the table"
    assert (spec.model, spec.model_version, spec.deployment_type, spec.meter_kind, spec.unit) == (
        model,
        None,
        DeploymentType(deployment),
        MeterKind.UNIT,
        unit,
    )


def test_ptu_hourly_meters_use_the_ptu_hour_unit_on_provisioned_types() -> None:
    specs = [
        lookup_meter(f"Provisioned Managed {where} Unit") for where in ("Global", "Data Zone", "Regional")
    ]
    assert all(spec is not None and spec.unit == PTU_HOUR for spec in specs)
    assert all(spec is not None and spec.deployment_type.is_provisioned for spec in specs)


def test_the_table_holds_exactly_the_expected_meters() -> None:
    expected = {row[0] for row in _rows(EXPECTED) + _rows(EXPECTED_UNITS)}
    assert set(METERS) == expected


def test_no_two_meters_price_the_same_thing() -> None:
    keys = [(s.model, s.model_version, s.deployment_type, s.meter_kind, s.unit) for s in METERS.values()]
    assert len(keys) == len(set(keys))


def test_lookup_ignores_case_and_repeated_spaces_but_nothing_else() -> None:
    assert lookup_meter("GPT 4O 1120  CACHED inp GLBL tokens") == lookup_meter(
        "gpt 4o 1120 cached Inp glbl Tokens"
    )
    assert lookup_meter("gpt 4o 1120 cached Inp glbl") is None  # the skuName, not the meterName
    assert lookup_meter("gpt 4o 1121 cached Inp glbl Tokens") is None


@pytest.mark.parametrize("name", sorted(UNSUPPORTED_METERS))
def test_recognised_meters_we_cannot_price_are_reported_with_a_reason(name: str) -> None:
    assert lookup_meter(name) is None
    assert unsupported_reason(name)
    known, skipped = split_known([name])
    assert (known, skipped) == ({}, [name])


def test_split_known_reports_unknown_names_once_and_sorted() -> None:
    names = ["gpt 4.1 Inp glbl Tokens", "dall-e-3 Images", "Whisper Audio", "dall-e-3 Images"]
    known, skipped = split_known(names)
    assert list(known) == ["gpt 4.1 Inp glbl Tokens"]
    assert skipped == ["Whisper Audio", "dall-e-3 Images"]
