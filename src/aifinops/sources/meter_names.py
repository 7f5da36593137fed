"""One parser for Azure Retail Prices meters: what an item (productName, skuName, meterName, unitOfMeasure,
serviceName) prices.

Azure spells the same thing many ways (`Inp`, `Inpt`, `in`; `glbl`, `Gl`; `Data Zone`, `DZone`, `Dz`;
`cached`, `cchd`, `cd`, `Cache`...; shared/reference/retail-meters/README.md lists the patterns seen from
2025-09 to 2026-09). The parser splits a meterName into words and reads each word as one of a closed set of
markers (deployment, batch, direction, cached, cache write, processing tier, context tier, modality, version
stamp, fine-tune, hosting, training); the remaining words name the model family. A meter whose words leave
the meter kind open, or that carries a marker whose meaning is not documented (Grok's trailing ``L``), is
not mapped: it comes back as an :class:`UnmappedMeter` with the reason, and callers list it — nothing is
guessed silently.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from types import MappingProxyType

from aifinops.domain import ContextTier, DeploymentType, MeterKind, ProcessingTier
from aifinops.engine.model_aliases import PUBLISHER_ROOTS

__all__ = [
    "PTU_HOUR",
    "TOKEN_UNITS",
    "MeterSpec",
    "UnmappedMeter",
    "is_provisioned_meter",
    "is_token_meter",
    "lookup_meter",
    "parse_meter",
    "split_known",
    "unsupported_reason",
]

#: The unit of provisioned-throughput hourly prices. Azure OpenAI's PTUs are metered once for all its models,
#: so these prices carry the unit name as their model too (see engine.pricing.price_event); a third-party
#: publisher's provisioned unit is ``ptu_hour:<publisher>`` so it never shares a price with Azure OpenAI's.
PTU_HOUR = "ptu_hour"
#: Units of token meters by modality: ordinary (text) tokens, audio or image tokens where the meter says so.
TOKEN_UNITS = MappingProxyType(
    {None: "tokens", "text": "tokens", "audio": "audio_tokens", "image": "image_tokens"}
)


@dataclass(frozen=True, slots=True)
class MeterSpec:
    """What one Azure meter prices."""

    model: str
    model_version: str | None
    deployment_type: DeploymentType | None
    meter_kind: MeterKind
    unit: str = "tokens"
    processing_tier: ProcessingTier = ProcessingTier.STANDARD
    context_tier: ContextTier | None = None
    modality: str | None = None  # text, audio, image where the meter says so
    product_name: str | None = None

    @property
    def priority(self) -> bool:
        return self.processing_tier is ProcessingTier.PRIORITY


@dataclass(frozen=True, slots=True)
class UnmappedMeter:
    """A meter the parser does not map, with why."""

    meter_name: str
    product_name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.meter_name} [{self.product_name}]: {self.reason}"


# --- words -------------------------------------------------------------------------------------------------

_GLOBAL = {"glbl", "gl", "global", "glb"}
_DATA_ZONE = {"datazone", "dzone", "dzn", "dz"}
_REGIONAL = {"regional", "regnl", "rgnl", "rg", "regn"}
_INPUT = {"inp", "input", "inpt", "in"}
_OUTPUT = {"outp", "out", "opt", "output", "outpt"}
_CACHED = {"cached", "cchd", "ccchd", "cd", "cache", "cch", "ch", "cched"}
_TIERS = {"std": ProcessingTier.STANDARD, "pp": ProcessingTier.PRIORITY, "prty": ProcessingTier.PRIORITY,
          "flex": ProcessingTier.FLEX, "fl": ProcessingTier.FLEX}  # fmt: skip
_CONTEXT = {"shortco": ContextTier.SHORT, "shco": ContextTier.SHORT,
            "longco": ContextTier.LONG, "loco": ContextTier.LONG}  # fmt: skip
_MODALITY = {"txt": "text", "text": "text", "aud": "audio", "audio": "audio",
             "img": "image", "image": "image"}  # fmt: skip
_NOISE = {"tokens", "tkn", "1m", "api", "new", "unit", "-"}
# Abbreviations inside model names.
_NAME_WORDS = {"mn": "mini", "rt": "realtime", "rtime": "realtime", "trscb": "transcribe",
               "tcrb": "transcribe", "trb": "turbo", "mnstrl": "ministral", "prvw": "preview",
               "rsng": "reasoning",
               "aud": "audio", "img": "image"}  # fmt: skip
# Two-digit GPT versions written without their dot (`gpt 41`, `54 mini`, `56luna`).
_GPT_DOTLESS = {"41": "4.1", "54": "5.4", "55": "5.5", "56": "5.6"}
# Meter words Azure glues together, split before reading (lower-cased text, regex → replacement).
_GLUE = (
    (r"\bbatchoutp\b", "batch outp"),
    (r"\brealtimeprvwtxtinp\b", "realtime prvw txt inp"),
    (r"\brealtimeprvw\b", "realtime prvw"),
    (r"\bdeepseekv", "deepseek v"),
    (r"\bgpt4omini", "gpt 4o mini "),
    (r"\bgpt4o\b", "gpt 4o"),
    (r"\btrb(\d+k)\b", r"turbo \1"),
    (r"\bturbo(\d+k)\b", r"turbo \1"),
    (r"\b(\d+b)ft(regnl|dz|glbl)?\b", r"\1 ft \2"),
    (r"\bgrok4\b", "grok 4"),
    (r"\bllama(\d)", r"llama \1"),
    (r"\b(\d)(\d)(luna|sol|terra)\b", r"\1.\2 \3"),
    (r"\b([a-z]+)(\d{4})\b", r"\1 \2"),  # mini0718, aud1217, txt1217
    (r"\bbatch 125\b", "batch 0125"),  # gpt-35-trb16K-Batch-125: the 0125 version
    (r"\bdata zone\b", "datazone"),
    (r"\b(?:mdl|mdel|model) (?:grdr|grader)\b|\bft grader\b", " grader "),
    (r"\brealtimeprvw(aud|txt)(inp|outp)\b", r"realtime prvw \1 \2"),
    (r"\bdeployment hosting\b", "hosting"),
)
# Model versions Azure deploys, by the MMDD stamp of their meters (reference/retail-prices.md §3.3).
_KNOWN_STAMPS = {
    "0513": "2024-05-13", "0806": "2024-08-06", "1120": "2024-11-20", "0718": "2024-07-18",
    "1217": "2024-12-17", "0416": "2025-04-16", "0131": "2025-01-31", "0626": "2025-06-26",
    "0603": "2025-06-03", "0828": "2025-08-28", "1215": "2025-12-15", "0324": "2025-03-24",
    "1106": "2023-11-06", "0125": "2024-01-25",
}  # fmt: skip
# Products whose models are named without their publisher (`V3.1`, `4.3`, `K2 Thinking`): the family is
# prefixed with the publisher unless it already starts with one of its own names.
_PUBLISHERS: dict[str, tuple[str, frozenset[str]]] = {
    product: (publisher, PUBLISHER_ROOTS[publisher])
    for product, publisher in {
        "azure deepseek models": "deepseek",
        "azure grok models": "grok",
        "grok model family": "grok",
        "azure kimi": "kimi",
        "azure llama models": "llama",
        "llama models": "llama",
        "azure mistral models": "mistral",
        "mistral models": "mistral",
        "azure phi models": "phi",
        "cohere models": "cohere",
        "mai models": "mai",
        "qwen models": "qwen",
        "azure bfl flux models": "flux",
        "azure baseten models": "baseten",
        "speech": "voice-live",
        "azure fireworks models": "fireworks",
    }.items()
}
# Foundry Local's provisioned unit is its own offer, not Azure OpenAI's cloud PTU; its models are named as
# OpenAI names them, so its unit prices no model by name.
_PUBLISHERS["foundry local azure open ai"] = ("foundry-local", frozenset({"gpt", "o1", "o3", "o4"}))
# Products of Azure OpenAI's own provisioned throughput (one PTU meter per deployment type, all its models).
_FIRST_PARTY_PTU = {"azure openai", "azure ai foundry provisioned throughput reservation"}
# OpenAI model names that stand on their own; other names in OpenAI products get `gpt-` in front.
_OPENAI_ROOTS = ("gpt", "o1", "o3", "o4", "text", "embedding", "codex", "computer", "davinci", "sora",
                 "chat", "dall", "tts", "whisper", "model")  # fmt: skip
# Legacy hourly meters that are not Provisioned Managed units: each prices a thing of its own.
_LEGACY_UNITS = {
    "provisioned throughput units": ("ptu_month", DeploymentType.PROVISIONED),
    "provisioned throughput - available unit": ("ptu_hour_available", DeploymentType.PROVISIONED),
    "provisioned throughput - overage unit": ("ptu_hour_overage", DeploymentType.PROVISIONED),
}
# Non-token meters: the last word of the meter name is what one unit is.
_OTHER_UNITS = {"pages": "page", "images": "image", "second": "second", "video": "second",
                "megapixel": "megapixel", "search": "search", "calls": "call", "session": "session",
                "characters": "character", "gb": "gb"}  # fmt: skip
_PTU = re.compile(r"^provisioned managed(?: (global|data zone|regional))? unit$")
_STAMP4 = re.compile(r"^\d{4}$")
_STAMP8 = re.compile(r"^(\d{2})(\d{2})(20\d{2})$")


def _normalized(name: str) -> str:
    return " ".join(name.split()).casefold()


def is_token_meter(meter_name: str) -> bool:
    """A meter priced per token (its name ends in ``Tokens``)."""
    return _normalized(meter_name).endswith(" tokens")


def is_provisioned_meter(meter_name: str) -> bool:
    """A provisioned-throughput unit meter."""
    return _normalized(meter_name).startswith("provisioned")


def _version(stamp: str, seen: dt.date | None) -> str:
    """A meter's date stamp as the model version Azure deploys (``0806`` → ``2024-08-06``).

    An MMDD stamp not in the table takes the latest year that puts it on or before ``seen`` (the price's
    effective start: a version exists before its meter), else it stays as written.
    """
    if stamp in _KNOWN_STAMPS:
        return _KNOWN_STAMPS[stamp]
    long = _STAMP8.match(stamp)
    if long:
        return f"{long.group(3)}-{long.group(1)}-{long.group(2)}"
    month, day = int(stamp[:2]), int(stamp[2:])
    if seen is None or not (1 <= month <= 12 and 1 <= day <= 31):
        return stamp
    year = seen.year if (month, day) <= (seen.month, seen.day) else seen.year - 1
    return f"{year:04d}-{month:02d}-{day:02d}"


def _words(meter_name: str) -> list[str]:
    text = _normalized(meter_name)
    for pattern, replacement in _GLUE:
        text = re.sub(pattern, replacement, text)
    return [w for w in re.split(r"[\s\-_]+", text) if w]


def _deployment(location: str | None, batch: bool) -> DeploymentType | None:
    if location is None:
        return None
    table = {
        "global": (DeploymentType.GLOBAL_STANDARD, DeploymentType.GLOBAL_BATCH),
        "data_zone": (DeploymentType.DATA_ZONE_STANDARD, DeploymentType.DATA_ZONE_BATCH),
        "regional": (DeploymentType.STANDARD, None),
    }
    standard, batched = table[location]
    return batched if batch else standard


# Model-name words after which `aud`/`txt`/`img` say the modality of the tokens, not the model.
_MODAL_MODELS = frozenset({"rt", "rtime", "realtime", "tcrb", "trscb", "transcribe", "tts", "aud", "audio"})


def _names_model(word: str, previous: str, name: list[str], product: str) -> bool:
    """Whether a modality word is part of the model's name: `gpt image`, `gpt-4o aud` (gpt-4o-audio-preview)
    and, in Azure OpenAI products, `aud` after a model that does not take audio by itself (`gpt4omini-aud1217`
    is gpt-4o-mini-audio-preview; in `gpt4omini-rt-aud1217` the realtime model's audio tokens)."""
    if previous in ("gpt", "4o"):
        return True
    openai = product.startswith("azure openai")
    return openai and _MODALITY[word] == "audio" and _MODAL_MODELS.isdisjoint(name)


def _family(name: list[str], product: str) -> str:
    words = [_NAME_WORDS.get(w, w) for w in name]
    openai = product.startswith("azure openai") or product == "foundry local azure open ai"
    if openai and words and words[0] in _GPT_DOTLESS:
        words[0] = _GPT_DOTLESS[words[0]]
    if openai and len(words) > 1 and words[0] == "gpt" and words[1] in _GPT_DOTLESS:
        words[1] = _GPT_DOTLESS[words[1]]
    if words[:2] == ["embedding", "ada"]:
        words = ["text", "embedding", "ada", "002", *words[2:]]
    family = "-".join(words)
    if openai:
        if "oss" in product and not family.startswith(("gpt-oss", "oss")):
            family = "oss-" + family
        if not family.startswith(_OPENAI_ROOTS):
            family = "gpt-" + family
        # gpt-4o's realtime and audio models were previews; their meters drop the word.
        for model in ("gpt-4o-realtime", "gpt-4o-mini-realtime", "gpt-4o-audio", "gpt-4o-mini-audio"):
            if family == model:
                family += "-preview"
    publisher = _PUBLISHERS.get(product)
    if publisher is not None and not family.startswith(tuple(publisher[1])):
        family = f"{publisher[0]}-{family}"
    return family


def parse_meter(
    meter_name: str,
    product_name: str = "",
    unit_of_measure: str = "",
    *,
    sku_name: str = "",
    service_name: str = "",
    seen: dt.date | None = None,
) -> MeterSpec | UnmappedMeter:
    """What one meter prices, or why it is not mapped.

    ``sku_name`` and ``service_name`` are accepted for completeness: Azure's skuName is the meterName without
    its trailing unit word, and serviceName (`Cognitive Services`, `Foundry Models`) does not change what a
    meter prices, so the meterName and productName decide. ``seen`` dates the item (its effective start) for
    version stamps without a year.

    >>> spec = parse_meter("5.6 sol ShortCo Cd Wr Std Gl 1M Tokens", "Azure OpenAI GPT5", "1M")
    >>> spec.model, spec.meter_kind.value, spec.context_tier.value, spec.processing_tier.value
    ('gpt-5.6-sol', 'cache_write', 'short', 'standard')
    """
    del sku_name, service_name  # see the docstring
    product = _normalized(product_name)
    normalized = _normalized(meter_name)
    ptu = _PTU.match(normalized)
    if ptu is not None:
        where = {None: "regional", "global": "global", "data zone": "data_zone", "regional": "regional"}
        kinds = {
            "global": DeploymentType.GLOBAL_PROVISIONED,
            "data_zone": DeploymentType.DATA_ZONE_PROVISIONED,
            "regional": DeploymentType.PROVISIONED,
        }
        publisher = _PUBLISHERS.get(product, (re.sub(r"[^a-z0-9]+", "-", product).strip("-"), frozenset()))[0]
        model = PTU_HOUR if product in _FIRST_PARTY_PTU or not product else f"{PTU_HOUR}:{publisher}"
        return MeterSpec(model, None, kinds[where[ptu.group(1)]], MeterKind.UNIT, PTU_HOUR,
                         product_name=product_name or None)  # fmt: skip
    if normalized in _LEGACY_UNITS:
        unit, deployment_type = _LEGACY_UNITS[normalized]
        return MeterSpec(unit, None, deployment_type, MeterKind.UNIT, unit, product_name=product_name or None)
    return _parse_words(meter_name, product_name, product, unit_of_measure, seen)


def _parse_words(
    meter_name: str, product_name: str, product: str, unit_of_measure: str, seen: dt.date | None
) -> MeterSpec | UnmappedMeter:
    words = _words(meter_name)
    last = words[-1] if words else ""
    unmapped = UnmappedMeter(meter_name, product_name, "")
    other_unit = _OTHER_UNITS.get(last)
    if last not in ("tokens", "unit") and other_unit is None:
        return _why(unmapped, f"the last word {last!r} is no known unit (Tokens, Unit, Pages, ...)")
    location: str | None = None
    batch = cached = write = ft = dev = grader = hosting = training = False
    direction: str | None = None
    tier: ProcessingTier | None = None
    context: ContextTier | None = None
    modality: str | None = None
    version: str | None = None
    name: list[str] = []
    speech = product == "speech"
    for i, word in enumerate(words[:-1]):
        previous = words[i - 1] if i else ""
        if word in _NOISE:
            continue
        if word in _GLOBAL:
            location = "global"
        elif word in _DATA_ZONE:
            location = "data_zone"
        elif word in _REGIONAL:
            location = "regional"
        elif word == "batch":
            batch = True
        elif word in _INPUT:
            direction = "input"
        elif word in _OUTPUT:
            direction = "output"
        elif word in _CACHED:
            cached = True
        elif word == "wr":
            write = True
        elif word in _TIERS and not speech and "flux" not in product:
            tier = _TIERS[word]
        elif word in _CONTEXT:
            context = _CONTEXT[word]
        elif word == "l" and "grok" in product:
            return _why(unmapped, "Grok's trailing 'L' variant is not documented (long context?)")
        elif word in _MODALITY and name and not _names_model(word, previous, name, product):
            modality = _MODALITY[word]
        elif _STAMP4.match(word) or _STAMP8.match(word):
            version = _version(word, seen)
        elif word in ("ft", "rft"):
            ft = True
        elif word == "dev":
            dev = True
        elif word == "grader":
            grader = True
        elif word in ("hosting", "hstng"):
            hosting = True
        elif word in ("training", "trng"):
            training = True
        elif word == "model" and name:
            continue
        elif word in ("d",) and previous in ("tcrb", "trscb", "transcribe"):
            name.append("diarize")
        else:
            name.append(word)
    if not name:
        return _why(unmapped, "no model name is left once the markers are read")
    family = _family(name, product)
    if "audio" in family.split("-"):
        modality = modality or "audio"  # audio models' unmarked meters are their audio tokens
    if ft and not grader:
        family += "-ft"
    if dev:
        family += "-dev"
    if grader:
        family += "-ft-grader"
    deployment_type = _deployment(location, batch)
    if location == "regional" and batch:
        deployment_type = DeploymentType.STANDARD  # batch transcription in one region (Whisper)
    common = {
        "model_version": version,
        "deployment_type": deployment_type,
        "processing_tier": tier or ProcessingTier.STANDARD,
        "context_tier": context,
        "product_name": product_name or None,
    }
    if other_unit is not None:
        return MeterSpec(family, meter_kind=MeterKind.UNIT, unit=other_unit, **common)  # type: ignore[arg-type]
    if hosting:
        return MeterSpec(family, meter_kind=MeterKind.UNIT, unit="hosting_hour", **common)  # type: ignore[arg-type]
    if last == "unit":
        if any(w in family for w in ("transcribe", "whisper", "translate")):
            return MeterSpec(family, meter_kind=MeterKind.UNIT, unit="audio_hour", **common)  # type: ignore[arg-type]
        if training:
            return MeterSpec(family, meter_kind=MeterKind.UNIT, unit="training_hour", **common)  # type: ignore[arg-type]
        return _why(unmapped, "an hourly unit that is neither provisioned, hosting nor training")
    if training or (ft and direction is None and not cached):
        return MeterSpec(family, meter_kind=MeterKind.UNIT, unit="training_tokens", **common)  # type: ignore[arg-type]
    if write:
        kind = MeterKind.CACHE_WRITE
    elif cached:
        if direction == "output":
            return _why(unmapped, "a cached output meter does not exist")
        kind = MeterKind.CACHED_INPUT
    elif direction == "output":
        kind = MeterKind.OUTPUT
    elif direction == "input" or any(w in family for w in ("embed", "rerank", "router")):
        # embeddings, rerankers and the model router bill what they read: their meters name no direction
        kind = MeterKind.INPUT
    else:
        return _why(unmapped, "the name says neither input, cached input, cache write nor output")
    return MeterSpec(family, meter_kind=kind, unit=TOKEN_UNITS[modality], modality=modality, **common)  # type: ignore[arg-type]


def _why(meter: UnmappedMeter, reason: str) -> UnmappedMeter:
    return UnmappedMeter(meter.meter_name, meter.product_name, reason)


def lookup_meter(
    meter_name: str, product_name: str = "Azure OpenAI", unit_of_measure: str = ""
) -> MeterSpec | None:
    """What ``meter_name`` prices, or None when it is not mapped (see :func:`parse_meter`).

    >>> spec = lookup_meter("gpt 4o 1120 cached Inp glbl Tokens")
    >>> spec.model, spec.model_version, spec.deployment_type.value, spec.meter_kind.value
    ('gpt-4o', '2024-11-20', 'global_standard', 'cached_input')
    """
    spec = parse_meter(meter_name, product_name, unit_of_measure)
    return spec if isinstance(spec, MeterSpec) else None


def unsupported_reason(meter_name: str, product_name: str = "Azure OpenAI") -> str | None:
    """Why a meter is not mapped, or None when it is."""
    spec = parse_meter(meter_name, product_name)
    return spec.reason if isinstance(spec, UnmappedMeter) else None


def split_known(
    meter_names: Iterable[str], product_name: str = "Azure OpenAI"
) -> tuple[dict[str, MeterSpec], list[str]]:
    """Mapped meters with their specs, and the names not mapped (sorted, once each)."""
    known: dict[str, MeterSpec] = {}
    skipped: set[str] = set()
    for name in meter_names:
        spec = lookup_meter(name, product_name)
        if spec is None:
            skipped.add(name)
        else:
            known[name] = spec
    return known, sorted(skipped)
