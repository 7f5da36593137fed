"""Rebuild the shipped price snapshot (src/aifinops/data/prices-2026-09.yaml) from the real captures.

    .venv/bin/python scripts/build_price_snapshot.py \\
        ../shared/reference/retail-meters/new-meters-2025-09_2026-09.tsv

Inputs: the 2025-08 snapshot rows (kept as they were: tests and the demo price with them) and the meters that
first appeared in the Retail Prices API each month from 2025-09 to 2026-09. Rules (also written into the
file's provenance): one price per product and meterName, open to any region, at the lowest price captured for
it; effective from the first month it appeared; reservation prices (per-term amounts) and meters the parser
does not map are left out and listed.
"""

from __future__ import annotations

import csv
import datetime as dt
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from aifinops.domain import ProcessingTier
from aifinops.sources.meter_names import MeterSpec, parse_meter
from aifinops.sources.retail_prices import unit_size

ROOT = Path(__file__).resolve().parents[1]
# The 2025-08 snapshot this one extends, as it was shipped.
OLD = "44a88d2:src/aifinops/data/prices-2025-08.yaml"
OUT = ROOT / "src" / "aifinops" / "data" / "prices-2026-09.yaml"
_RESERVATIONS = "Azure AI Foundry Provisioned Throughput Reservation"
_FLEX_PLACEHOLDER = Decimal("0.01")

_HEADER = """\
# Azure AI model list prices (USD), a dated snapshot: seeds an empty price book at `aifinops db upgrade`, and
# serves the demo and sites without internet. `aifinops prices sync` adds current, per-region prices.
provenance: |
  Real Azure Retail Prices API meters, two captures:
  1. The 2025-08-25 capture quoted in shared/reference/retail-prices.md §3.3–3.4 (guygregory/modelmeters.com
     commit d4a64106, serviceName 'Cognitive Services'): {old} rows kept unchanged, with their effective
     dates (2025-04-01 where the capture says so, else the capture date).
  2. Every meter that first appeared from 2025-09 to 2026-09 (shared/reference/retail-meters, from
     guygregory/modelmeters.com monthly/partial/*.ndjson; AI token, provisioned, fine-tune, image, video, page
     and search meters of Azure OpenAI and the Foundry publishers): {new} rows, one per productName and
     meterName, mapped by aifinops' meter parser. Meters already in capture 1 keep capture 1's row.
  Regions: the monthly captures give the lowest and highest price of a meter across the regions it appeared
  in, not the region. Each row is open to any region at the LOWEST price captured for the meter (the price of
  its cheapest regions; Data Zone and newer regions often cost up to 1.2x that), so estimates in costlier
  regions run low until `aifinops prices sync` stores per-region prices. Flex meters of 2026-09 carry a 0.01
  placeholder line beside their list price; the list price is used.{flex_note}
  effective_start is the first day of the month the meter first appeared. Left out: {reservations} reservation
  rows of '{reservation_product}' (their price is a per-term amount, not hourly) and {unmapped} meters the
  parser does not map: {unmapped_names}.
captured_at: "2026-09-01"
currency: USD
source: azure-retail-prices-snapshot-2026-09-01
prices:
"""


def _row(
    spec: MeterSpec, name: str, product: str, price: Decimal, unit: str, start: str, end: str | None
) -> str:
    fields = [f"model: {spec.model}"]
    if spec.model_version:
        fields.append(f'version: "{spec.model_version}"')
    if spec.deployment_type:
        fields.append(f"deployment_type: {spec.deployment_type.value}")
    fields.append(f"meter: {spec.meter_kind.value}")
    if spec.unit != "tokens":
        fields.append(f"unit: {spec.unit}")
    if spec.processing_tier is not ProcessingTier.STANDARD:
        fields.append(f"processing_tier: {spec.processing_tier.value}")
    if spec.context_tier:
        fields.append(f"context_tier: {spec.context_tier.value}")
    fields += [f"price: {price}", f"per: {unit_size(unit)}", f"effective_start: {start}"]
    if end is not None:
        fields.append(f"effective_end: {end}")
    fields += [f'product: "{product}"', f'meter_name: "{name}"']
    return "  - {" + ", ".join(fields) + "}\n"


def _rows(best: dict[tuple[str, str], tuple[Decimal, str, str, MeterSpec]]) -> list[str]:
    """One row per meter; meters Azure renamed (same product and meaning, new spelling) keep the first
    spelling while the price stays, and end where a new price starts."""
    by_key: dict[tuple[object, ...], list[tuple[str, Decimal, str, str]]] = {}
    for (product, name), (price, unit, start, spec) in best.items():
        key = (product, spec.model, spec.model_version, spec.deployment_type, spec.meter_kind,
               spec.processing_tier, spec.context_tier, spec.unit, unit)  # fmt: skip
        by_key.setdefault(key, []).append((start, price, name, unit))
    rows: list[tuple[tuple[object, ...], str]] = []
    for key, entries in by_key.items():
        entries.sort()
        kept = [entries[0]]
        for entry in entries[1:]:
            if entry[1] != kept[-1][1]:
                kept.append(entry)
        spec = best[(str(key[0]), kept[0][2])][3]
        for i, (start, price, name, unit) in enumerate(kept):
            end = kept[i + 1][0] if i + 1 < len(kept) else None
            order = (spec.model, str(key[0]), name)
            rows.append((order, _row(spec, name, str(key[0]), price, unit, start, end)))
    return [row for _, row in sorted(rows, key=lambda r: str(r[0]))]


def main(tsv: Path) -> None:
    old_text = subprocess.run(
        ["git", "show", OLD], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    old_lines = old_text.split("prices:\n", 1)[1].splitlines(keepends=True)
    old_rows = [line for line in old_lines if line.lstrip().startswith("- {")]
    old_names = {line.split("meter_name: ")[1].rstrip("}\n").strip() for line in old_rows}
    best: dict[tuple[str, str], tuple[Decimal, str, str, MeterSpec]] = {}
    unmapped: set[str] = set()
    reservations = flex_without_list = 0
    with tsv.open(encoding="utf-8") as handle:
        for r in csv.DictReader(handle, delimiter="\t"):
            name, product, month = r["meterName"], r["productName"], r["month"]
            if product == _RESERVATIONS:
                reservations += 1
                continue
            spec = parse_meter(name, product, r["unitOfMeasure"], seen=dt.date.fromisoformat(month))
            if not isinstance(spec, MeterSpec):
                unmapped.add(f"'{name}' ({product})")
                continue
            if name in old_names and product.startswith("Azure OpenAI"):
                continue
            low = Decimal(r["min_price"])
            if spec.processing_tier is ProcessingTier.FLEX and low == _FLEX_PLACEHOLDER:
                low = Decimal(r["max_price"])
                if low == _FLEX_PLACEHOLDER:
                    flex_without_list += 1
                    continue
            key = (product, name)
            seen = best.get(key)
            start = min(month, seen[2]) if seen else month
            price = min(low, seen[0]) if seen else low
            best[key] = (price, r["unitOfMeasure"], start, spec)
    rows = _rows(best)
    flex_note = (
        f" {flex_without_list} Flex meters with only the placeholder are left out."
        if flex_without_list
        else ""
    )
    header = _HEADER.format(
        old=len(old_rows),
        new=len(rows),
        flex_note=flex_note,
        reservations=reservations,
        reservation_product=_RESERVATIONS,
        unmapped=len(unmapped),
        unmapped_names="; ".join(sorted(unmapped)),
    )
    OUT.write_text(header + "".join(old_lines) + "".join(rows), encoding="utf-8")
    print(f"{OUT.name}: {len(old_rows)} + {len(rows)} = {len(old_rows) + len(rows)} prices")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
