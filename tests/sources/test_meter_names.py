"""Tests of the meter parser: every real meter of reference/retail-prices.md §3.3–3.4 maps as expected, and
the meters that appeared from 2025-09 to 2026-09 (reference/retail-meters) are covered."""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections import Counter
from pathlib import Path

import pytest

from aifinops.domain import ContextTier, DeploymentType, MeterKind, ProcessingTier
from aifinops.sources.meter_names import (
    PTU_HOUR,
    MeterSpec,
    UnmappedMeter,
    is_provisioned_meter,
    is_token_meter,
    lookup_meter,
    parse_meter,
    split_known,
    unsupported_reason,
)

CAPTURES = Path(__file__).resolve().parents[3] / "shared" / "reference" / "retail-meters"
NEW_METERS = CAPTURES / "new-meters-2025-09_2026-09.tsv"

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
5.1 pp inp Dz 1M Tokens | gpt-5.1 | - | data_zone_standard | input
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

# Priority meters of the reference: plain meter kinds with the priority processing tier.
PRIORITY = {"5.1 pp inp Dz 1M Tokens"}

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
    assert spec is not None, f"{name!r} is not mapped: {unsupported_reason(name)}"
    assert (spec.model, spec.model_version, spec.deployment_type, spec.meter_kind, spec.unit) == (
        model,
        None if version == "-" else version,
        DeploymentType(deployment),
        MeterKind(kind),
        "tokens",
    )
    assert spec.priority is (name in PRIORITY)


@pytest.mark.parametrize(("name", "model", "deployment", "unit"), _rows(EXPECTED_UNITS))
def test_hourly_and_other_non_token_meters_map_to_unit_prices(
    name: str, model: str, deployment: str, unit: str
) -> None:
    spec = lookup_meter(name)
    assert spec is not None, f"{name!r} is not mapped: {unsupported_reason(name)}"
    assert (spec.model, spec.model_version, spec.deployment_type, spec.meter_kind, spec.unit) == (
        model,
        None,
        DeploymentType(deployment),
        MeterKind.UNIT,
        unit,
    )


# meterName | productName | model | deployment | kind | unit | processing tier | context tier ("-" = none)
NEW_SPELLINGS = [
    (
        "5.6 sol ShortCo Cd Wr Std Gl 1M Tokens",
        "Azure OpenAI GPT5",
        "gpt-5.6-sol",
        "global_standard",
        "cache_write",
        "tokens",
        "standard",
        "short",
    ),
    (
        "56luna LoCo Cd Wr Fl Gl 1M Tokens",
        "Azure OpenAI GPT5",
        "gpt-5.6-luna",
        "global_standard",
        "cache_write",
        "tokens",
        "flex",
        "long",
    ),
    (
        "5.6 luna ShortCo Cd Inp PP DZ 1M Tokens",
        "Azure OpenAI GPT5",
        "gpt-5.6-luna",
        "data_zone_standard",
        "cached_input",
        "tokens",
        "priority",
        "short",
    ),
    (
        "5.5 ShortCo PP opt Gl 1M Tokens",
        "Azure OpenAI GPT5",
        "gpt-5.5",
        "global_standard",
        "output",
        "tokens",
        "priority",
        "short",
    ),
    (
        "5.4 longco batch inp Gl 1M Tokens",
        "Azure OpenAI GPT5",
        "gpt-5.4",
        "global_batch",
        "input",
        "tokens",
        "standard",
        "long",
    ),
    (
        "54 inp Flex Gl 1M Tokens",
        "Azure OpenAI GPT5",
        "gpt-5.4",
        "global_standard",
        "input",
        "tokens",
        "flex",
        "-",
    ),
    (
        "gpt 41 prty inp glbl Tokens",
        "Azure OpenAI PP GPT4s",
        "gpt-4.1",
        "global_standard",
        "input",
        "tokens",
        "priority",
        "-",
    ),
    (
        "4.1 pp inp Gl Tokens",
        "Azure OpenAI PP GPT4s",
        "gpt-4.1",
        "global_standard",
        "input",
        "tokens",
        "priority",
        "-",
    ),
    (
        "gpt-5-codex-ccchd-inp-glbl Tokens",
        "Azure OpenAI GPT5",
        "gpt-5-codex",
        "global_standard",
        "cached_input",
        "tokens",
        "standard",
        "-",
    ),
    (
        "gpt rt aud 0828 cchd Inp DZn Tokens",
        "Azure OpenAI Media",
        "gpt-realtime",
        "data_zone_standard",
        "cached_input",
        "audio_tokens",
        "standard",
        "-",
    ),
    (
        "gpt rt txt mn in gl 1215 1M Tokens",
        "Azure OpenAI Media",
        "gpt-realtime-mini",
        "global_standard",
        "input",
        "tokens",
        "standard",
        "-",
    ),
    (
        "gpt4o mn trscb aud in gl 1215 1M Tokens",
        "Azure OpenAI Media",
        "gpt-4o-mini-transcribe",
        "global_standard",
        "input",
        "audio_tokens",
        "standard",
        "-",
    ),
    (
        "Image 2 img opt DZ 1M Tokens",
        "Azure OpenAI Media",
        "gpt-image-2",
        "data_zone_standard",
        "output",
        "image_tokens",
        "standard",
        "-",
    ),
    (
        "V3.2 Outp DZ Tokens",
        "Azure Deepseek Models",
        "deepseek-v3.2",
        "data_zone_standard",
        "output",
        "tokens",
        "standard",
        "-",
    ),
    (
        "FW GLM 5 Cache Inp glbl Tokens",
        "Azure Fireworks Models",
        "fw-glm-5",
        "global_standard",
        "cached_input",
        "tokens",
        "standard",
        "-",
    ),
    (
        "K2 Thinking Outp DZ Tokens",
        "Azure Kimi",
        "kimi-k2-thinking",
        "data_zone_standard",
        "output",
        "tokens",
        "standard",
        "-",
    ),
    (
        "Command A Inp Glbl Tokens",
        "Cohere Models",
        "cohere-command-a",
        "global_standard",
        "input",
        "tokens",
        "standard",
        "-",
    ),
    (
        "MAI-Thinking-1 Opt glbl 1M Tokens",
        "MAI Models",
        "mai-thinking-1",
        "global_standard",
        "output",
        "tokens",
        "standard",
        "-",
    ),
    (
        "gpt-4.1-ft hosting regional Unit",
        "Azure OpenAI",
        "gpt-4.1-ft",
        "standard",
        "unit",
        "hosting_hour",
        "standard",
        "-",
    ),
    (
        "o4 mini rft training Dz Unit",
        "Azure OpenAI Reasoning",
        "o4-mini-ft",
        "data_zone_standard",
        "unit",
        "training_hour",
        "standard",
        "-",
    ),
]


@pytest.mark.parametrize(
    ("name", "product", "model", "deployment", "kind", "unit", "tier", "context"), NEW_SPELLINGS
)
def test_new_spellings_map_to_meter_kind_tiers_and_modality(
    name: str, product: str, model: str, deployment: str, kind: str, unit: str, tier: str, context: str
) -> None:
    spec = parse_meter(name, product)
    assert isinstance(spec, MeterSpec), spec
    assert (spec.model, spec.deployment_type, spec.meter_kind, spec.unit) == (
        model,
        DeploymentType(deployment),
        MeterKind(kind),
        unit,
    )
    assert spec.processing_tier is ProcessingTier(tier)
    assert spec.context_tier is (None if context == "-" else ContextTier(context))
    assert spec.product_name == product


def test_a_third_party_provisioned_unit_never_shares_azure_openais_ptu_price() -> None:
    ours = parse_meter("Provisioned Managed Global Unit", "Azure OpenAI", "1/Hour")
    baseten = parse_meter("Provisioned Managed Global Unit", "Azure Baseten Models", "1/Hour")
    assert isinstance(ours, MeterSpec) and isinstance(baseten, MeterSpec)
    assert (ours.model, ours.unit) == (PTU_HOUR, PTU_HOUR)
    assert ours.deployment_type is DeploymentType.GLOBAL_PROVISIONED
    assert baseten.model == "ptu_hour:baseten" and baseten.product_name == "Azure Baseten Models"
    assert ours.model != baseten.model


def test_a_version_stamp_without_a_year_takes_the_year_before_its_first_price() -> None:
    spec = parse_meter("V4 Flash 0731 Inp glbl Tokens", "Azure Deepseek Models", seen=dt.date(2026, 8, 1))
    assert isinstance(spec, MeterSpec) and spec.model_version == "2026-07-31"
    spec = parse_meter("chat-latest 05052026 inp Gl 1M Tokens", "Azure OpenAI GPT5")
    assert isinstance(spec, MeterSpec) and spec.model_version == "2026-05-05"


def test_meters_the_parser_cannot_read_come_back_with_a_reason() -> None:
    grok_l = parse_meter("4.3 Inp Glbl L Tokens", "Azure Grok Models")
    assert isinstance(grok_l, UnmappedMeter) and "'L'" in grok_l.reason
    assert lookup_meter("gpt 4o 1120 cached Inp glbl") is None  # the skuName, not the meterName
    assert "unit" in (unsupported_reason("gpt 4o 1120 cached Inp glbl") or "")


def test_lookup_ignores_case_and_repeated_spaces() -> None:
    assert lookup_meter("GPT 4O 1120  CACHED inp GLBL tokens") == lookup_meter(
        "gpt 4o 1120 cached Inp glbl Tokens"
    )


def test_split_known_reports_unmapped_names_once_and_sorted() -> None:
    names = ["gpt 4.1 Inp glbl Tokens", "dall-e-3 Images 2", "Whisper Audio", "dall-e-3 Images 2"]
    known, skipped = split_known(names)
    assert list(known) == ["gpt 4.1 Inp glbl Tokens"]
    assert skipped == ["Whisper Audio", "dall-e-3 Images 2"]


def _captured() -> list[dict[str, str]]:
    with NEW_METERS.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def coverage() -> tuple[dict[str, tuple[int, int]], list[str]]:
    """Mapped and total token and provisioned meters per month of the captures, and the unmapped ones."""
    mapped: Counter[str] = Counter()
    total: Counter[str] = Counter()
    unmapped: list[str] = []
    for row in _captured():
        name, product = row["meterName"], row["productName"]
        if not (is_token_meter(name) or is_provisioned_meter(name)):
            continue
        month = row["month"][:7]
        spec = parse_meter(name, product, row["unitOfMeasure"], seen=dt.date.fromisoformat(row["month"]))
        total[month] += 1
        if isinstance(spec, MeterSpec):
            mapped[month] += 1
        else:
            unmapped.append(f"{month} {spec}")
    return {m: (mapped[m], total[m]) for m in sorted(total)}, unmapped


@pytest.mark.skipif(not NEW_METERS.exists(), reason="the shared captures are not beside this checkout")
def test_at_least_99_percent_of_captured_token_and_provisioned_meters_map() -> None:
    per_month, unmapped = coverage()
    mapped = sum(m for m, _ in per_month.values())
    total = sum(t for _, t in per_month.values())
    assert total > 2000
    assert mapped / total >= 0.99, "unmapped meters:\n" + "\n".join(unmapped)
    # every unmapped meter is listed by name (the test output shows them when the share drops)
    assert len(unmapped) == total - mapped


@pytest.mark.skipif(not NEW_METERS.exists(), reason="the shared captures are not beside this checkout")
def test_every_captured_meter_is_read_without_error() -> None:
    for row in _captured():
        spec = parse_meter(row["meterName"], row["productName"], row["unitOfMeasure"])
        assert isinstance(spec, MeterSpec | UnmappedMeter)


if __name__ == "__main__":  # prints the coverage per month: `python -m tests.sources.test_meter_names`
    months, missing = coverage()
    for month, (hit, all_) in months.items():
        print(f"{month}: {hit}/{all_}")
    print("\n".join(missing))


# Audio and realtime models keep their own family: the stamp glued to `aud` is the audio model's version.
AUDIO_MODELS = """
gpt4omini-aud1217 Inp glbl Tokens | gpt-4o-mini-audio-preview | 2024-12-17 | audio_tokens | input
gpt4omini-aud1217 Outp DZone Tokens | gpt-4o-mini-audio-preview | 2024-12-17 | audio_tokens | output
gpt4omini-aud1217-txt Inp glbl Tokens | gpt-4o-mini-audio-preview | 2024-12-17 | tokens | input
gpt4omini-aud1217-txt Outp DZone Tokens | gpt-4o-mini-audio-preview | 2024-12-17 | tokens | output
gpt-4o-aud-1217 Inp glbl Tokens | gpt-4o-audio-preview | 2024-12-17 | audio_tokens | input
gpt-4o-aud-0603-txt Outp glbl Tokens | gpt-4o-audio-preview | 2025-06-03 | tokens | output
gpt4omini-rt-aud1217 Inp glbl Tokens | gpt-4o-mini-realtime-preview | 2024-12-17 | audio_tokens | input
gpt4omini-rt-txt1217 Outp glbl Tokens | gpt-4o-mini-realtime-preview | 2024-12-17 | tokens | output
gpt-4o-rt-aud-0603 Inp DZone Tokens | gpt-4o-realtime-preview | 2025-06-03 | audio_tokens | input
gpt4o rtime cached audio inp dzone Tokens | gpt-4o-realtime-preview | - | audio_tokens | cached_input
gpt aud mini txt Inp glbl Tokens | gpt-audio-mini | - | tokens | input
gpt rt aud 0828 cchd Inp DZn Tokens | gpt-realtime | 2025-08-28 | audio_tokens | cached_input
gpt-4o-mini-tts-aud-out-glbl Tokens | gpt-4o-mini-tts | - | audio_tokens | output
gpt 4o tcrb d aud inp glbl Tokens | gpt-4o-transcribe-diarize | - | audio_tokens | input
"""


@pytest.mark.parametrize(
    ("name", "model", "version", "unit", "kind"),
    [tuple(c.strip() for c in line.split("|")) for line in AUDIO_MODELS.strip().splitlines()],
)
def test_audio_and_realtime_meters_keep_their_model_family(
    name: str, model: str, version: str, unit: str, kind: str
) -> None:
    spec = parse_meter(name, "Azure OpenAI")
    assert isinstance(spec, MeterSpec), spec
    assert (spec.model, spec.model_version or "-", spec.unit, spec.meter_kind) == (
        model,
        version,
        unit,
        MeterKind(kind),
    )


_AUDIO_FAMILY = ("audio", "realtime", "transcribe", "tts")
_AUDIO_WORD = re.compile(
    r"(?:^|[\s\-_])(?:aud|audio|rt|rtime|realtime)(?:\d{4})?(?:[\s\-_]|$)", re.IGNORECASE
)


@pytest.mark.skipif(not NEW_METERS.exists(), reason="the shared captures are not beside this checkout")
def test_every_captured_audio_or_realtime_meter_names_an_audio_model() -> None:
    """An Azure OpenAI meter that prices audio tokens, or names audio or realtime, belongs to an audio,
    realtime, transcription or speech model — never to the text model its name starts with."""
    wrong = []
    for row in _captured():
        name, product = row["meterName"], row["productName"]
        if not product.startswith("Azure OpenAI"):
            continue
        spec = parse_meter(name, product, seen=dt.date.fromisoformat(row["month"]))
        if not isinstance(spec, MeterSpec):
            continue
        audio = spec.unit == "audio_tokens" or _AUDIO_WORD.search(name) is not None
        if audio and not any(w in spec.model.split("-") for w in _AUDIO_FAMILY):
            wrong.append(f"{name} [{product}] -> {spec.model} {spec.model_version}")
    assert not wrong, "\n".join(wrong)
