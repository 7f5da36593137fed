"""Cost-export ingestion benchmark: rows/s of our DuckDB reader vs pandas and a bare DuckDB scan, peak RSS.

Generates an EA actual-cost file with the 57 columns of dataset version 2024-08-01 (CSV, CSV.gz, Parquet)
under /tmp, then measures, each in a fresh process so peak RSS is its own:

- ours:    ExportReader.scan (exact money, every normalization, aggregated to the CostRecord grain)
- store:   the same plus CostRecordStore.replace_slice into a fresh SQLite database (end to end)
- pandas:  read_csv/read_parquet of the needed columns + groupby().sum() (the plain approach)
- ceiling: DuckDB's bare scan-and-aggregate of the same file to the same grain (sum of an auto-typed DOUBLE)

Usage: .venv/bin/python bench/exports/run.py [--rows 5000000] [--dir /tmp/aifinops-bench-exports]
                                             [--skip-pandas]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

# reference/cost-export-columns.md §2, in order.
EA_COLUMNS = (
    "InvoiceSectionName",
    "AccountName",
    "AccountOwnerId",
    "SubscriptionId",
    "SubscriptionName",
    "ResourceGroup",
    "ResourceLocation",
    "Date",
    "ProductName",
    "MeterCategory",
    "MeterSubCategory",
    "MeterId",
    "MeterName",
    "MeterRegion",
    "UnitOfMeasure",
    "Quantity",
    "EffectivePrice",
    "CostInBillingCurrency",
    "CostCenter",
    "ConsumedService",
    "ResourceId",
    "Tags",
    "OfferId",
    "AdditionalInfo",
    "ServiceInfo1",
    "ServiceInfo2",
    "ResourceName",
    "ReservationId",
    "ReservationName",
    "UnitPrice",
    "ProductOrderId",
    "ProductOrderName",
    "Term",
    "PublisherType",
    "PublisherName",
    "ChargeType",
    "Frequency",
    "PricingModel",
    "AvailabilityZone",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrencyCode",
    "BillingPeriodStartDate",
    "BillingPeriodEndDate",
    "BillingProfileId",
    "BillingProfileName",
    "InvoiceSectionId",
    "IsAzureCreditEligible",
    "PartNumber",
    "PayGPrice",
    "PlanName",
    "ServiceFamily",
    "CostAllocationRuleName",
    "benefitId",
    "benefitName",
    "AccountId",
    "ResourceLocationNormalized",
)
assert len(EA_COLUMNS) == 57

# One row per resource, meter and day, as Azure writes them: 40 subscriptions × 40 resource groups, about
# 40,000 Azure OpenAI accounts, four meters; costs with up to 12 decimals (the same in every variant, hashed
# from the row number); tags without braces.
_GENERATE = """
SELECT
  'Dept ' || (i % 7) AS InvoiceSectionName, 'Account ' || (i % 11) AS AccountName,
  'owner@contoso.com' AS AccountOwnerId,
  printf('%08x-0000-4000-8000-%012x', (i // 1000) % 40, (i // 1000) % 40) AS SubscriptionId,
  'Subscription ' || ((i // 1000) % 40) AS SubscriptionName,
  'rg-' || ((i // 40) % 40) AS ResourceGroup, 'eastus' AS ResourceLocation,
  strftime(DATE '2026-10-01' + CAST(i % 31 AS INTEGER), '%m/%d/%Y') AS Date,
  'Azure OpenAI' AS ProductName,
  ['Azure OpenAI', 'Storage', 'Virtual Machines', 'Bandwidth'][1 + (i // 31) % 4] AS MeterCategory,
  'gpt-4o' AS MeterSubCategory,
  printf('%08x-1111-2222-3333-%012x', (i // 31) % 64, (i // 31) % 64) AS MeterId,
  ['gpt 4o 0513 Input global Tokens', 'gpt 4o 0513 Output global Tokens', 'LRS Data Stored', 'D2 v3']
    [1 + (i // 31) % 4] AS MeterName,
  'US East' AS MeterRegion, '1K' AS UnitOfMeasure,
  CAST(CAST(hash(i, 1) % 1000000000 AS DECIMAL(38,6)) / 1000000 AS VARCHAR) AS Quantity,
  '0.0025' AS EffectivePrice,
  CAST(CAST(hash(i, 2) % 50000000000000 AS DECIMAL(38,12)) / 1000000000000 AS VARCHAR)
    AS CostInBillingCurrency,
  'CC-' || (i % 13) AS CostCenter,
  'Microsoft.CognitiveServices' AS ConsumedService,
  printf('/subscriptions/%08x-0000-4000-8000-%012x/resourceGroups/RG-%d/providers/Microsoft.CognitiveServices/accounts/aoai-%d',
         (i // 1000) % 40, (i // 1000) % 40, (i // 40) % 40, i // 124) AS ResourceId,
  printf('"team": "team-%d","env": "prod","app": "app-%d"', (i // 124) % 17, (i // 124) % 29) AS Tags,
  'MS-AZR-0017P' AS OfferId, '{"DeploymentName": "gpt-4o-prod"}' AS AdditionalInfo, '' AS ServiceInfo1,
  '' AS ServiceInfo2, 'aoai-' || (i // 124) AS ResourceName, '' AS ReservationId, '' AS ReservationName,
  '0.0025' AS UnitPrice, '' AS ProductOrderId, '' AS ProductOrderName, '' AS Term, 'Azure' AS PublisherType,
  'Microsoft' AS PublisherName, 'Usage' AS ChargeType, 'UsageBased' AS Frequency, 'OnDemand' AS PricingModel,
  '' AS AvailabilityZone, '8611537' AS BillingAccountId, 'Contoso' AS BillingAccountName,
  'USD' AS BillingCurrencyCode, '10/01/2026' AS BillingPeriodStartDate, '10/31/2026' AS BillingPeriodEndDate,
  '8611537' AS BillingProfileId, 'Contoso' AS BillingProfileName, 'IS-1' AS InvoiceSectionId,
  'True' AS IsAzureCreditEligible, 'AAH-12345' AS PartNumber, '0.0025' AS PayGPrice, '' AS PlanName,
  'AI + Machine Learning' AS ServiceFamily, '' AS CostAllocationRuleName, '' AS benefitId, '' AS benefitName,
  '12345' AS AccountId, 'US East' AS ResourceLocationNormalized
FROM range(__ROWS__) t(i)
"""

# The source columns our reader groups by (the CostRecord grain): the ceiling and pandas group by the same.
_KEYS = [
    "Date",
    "BillingCurrencyCode",
    "SubscriptionId",
    "ResourceGroup",
    "ResourceId",
    "ResourceLocationNormalized",
    "ConsumedService",
    "MeterCategory",
    "MeterSubCategory",
    "MeterName",
    "MeterId",
    "ChargeType",
    "PricingModel",
    "UnitOfMeasure",
    "Tags",
]


def _paths(folder: Path, rows: int) -> dict[str, Path]:
    stem = folder / f"ea_actualcost_{rows}"
    return {
        "csv": stem.with_suffix(".csv"),
        "csv.gz": stem.with_suffix(".csv.gz"),
        "parquet": stem.with_suffix(".parquet"),
    }


def generate(folder: Path, rows: int) -> dict[str, Path]:
    """Write the CSV, CSV.gz and Parquet variants once (reused when present with the same row count)."""
    import duckdb

    folder.mkdir(parents=True, exist_ok=True)
    paths = _paths(folder, rows)
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    select = _GENERATE.replace("__ROWS__", str(rows))
    header = [row[0] for row in con.sql(f"DESCRIBE {select}").fetchall()]
    assert header == list(EA_COLUMNS), "the generator must write the 57 EA columns in their documented order"
    for kind, path in paths.items():
        if path.exists():
            continue
        started = time.perf_counter()
        options = {
            "csv": "FORMAT csv, HEADER",
            "csv.gz": "FORMAT csv, HEADER, COMPRESSION gzip",
            "parquet": "FORMAT parquet",
        }[kind]
        query = select
        if kind == "parquet":  # Parquet exports carry typed columns: costs as Decimal, dates as dates
            numbers = ("Quantity", "EffectivePrice", "CostInBillingCurrency", "UnitPrice", "PayGPrice")
            typed = ", ".join(f"CAST({c} AS DECIMAL(38,18)) AS {c}" for c in numbers)
            day = "CAST(strptime(Date, '%m/%d/%Y') AS DATE) AS Date"
            query = f"SELECT * REPLACE ({typed}, {day}) FROM ({select})"
        con.execute(f"COPY ({query}) TO '{path}' ({options})")
        print(
            f"generated {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
    con.close()
    return paths


def _measure(kind: str, path: Path, rows: int) -> dict[str, float]:
    """Run one measurement in this process and return its figures."""
    started = time.perf_counter()
    if kind in ("ours", "store"):
        import tempfile

        from aifinops.domain import Basis
        from aifinops.sources.cost_exports import ExportReader

        with tempfile.TemporaryDirectory() as spill, ExportReader(temp_directory=spill) as reader:
            scan = reader.scan(path, basis=Basis.ACTUAL)
            totals = scan.totals()
            groups = len(scan.relation.aggregate("count(*)").fetchall())
            if kind == "store":
                import datetime as dt

                from aifinops.store import Store
                from aifinops.store.cost_records import CostRecordStore

                store = Store(f"sqlite:///{spill}/bench.db")
                store.upgrade()
                CostRecordStore(store).replace_slice(
                    "bench", "s", Basis.ACTUAL, dt.date(2026, 10, 1), dt.date(2026, 11, 1), scan.batches()
                )
                store.dispose()
        check = float(totals["USD"])
        del groups
    elif kind == "pandas":
        import pandas as pd

        usecols = [*_KEYS, "CostInBillingCurrency"]
        frame = (
            pd.read_parquet(path, columns=usecols)
            if path.suffix == ".parquet"
            else pd.read_csv(path, usecols=usecols)
        )
        check = float(frame.groupby(_KEYS, dropna=False)["CostInBillingCurrency"].sum().sum())
    else:
        import duckdb

        source = f"read_parquet('{path}')" if path.suffix == ".parquet" else f"read_csv('{path}')"
        con = duckdb.connect()
        con.execute("SET memory_limit = '512MB'")
        con.execute("SET preserve_insertion_order = false")
        con.execute(
            f"CREATE TEMP TABLE agg AS SELECT {', '.join(_KEYS)}, "
            f"sum(CAST(CostInBillingCurrency AS DOUBLE)) AS cost FROM {source} GROUP BY ALL"
        )
        check = float(con.sql("SELECT sum(cost) FROM agg").fetchall()[0][0])
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "rows_per_s": rows / seconds, "peak_mib": peak_mib, "check": check}


def _child(kind: str, path: Path, rows: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--measure", kind, "--file", str(path), "--rows", str(rows)],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"{kind} on {path} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/aifinops-bench-exports"))
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure and args.measure != "generate":
        print(json.dumps(_measure(args.measure, args.file, args.rows)))
        return
    if args.measure == "generate":
        generate(args.dir, args.rows)
        return
    subprocess.run(
        [sys.executable, __file__, "--measure", "generate", "--dir", str(args.dir), "--rows", str(args.rows)],
        check=True,
    )
    paths = _paths(args.dir, args.rows)
    print(f"rows={args.rows:,} columns={len(EA_COLUMNS)}", flush=True)
    for variant, path in paths.items():
        kinds = (
            ["ceiling", "ours"]
            + (["pandas"] if not args.skip_pandas else [])
            + (["store"] if variant == "csv" else [])
        )
        figures = {}
        for kind in kinds:
            f = figures[kind] = _child(kind, path, args.rows)
            print(
                f"exports {variant:8s} {kind:8s} {f['rows_per_s']:>12,.0f} rows/s  {f['seconds']:7.1f} s  "
                f"peak {f['peak_mib']:6.0f} MiB  total {f['check']:.2f}",
                flush=True,
            )
        ours, ceiling = figures["ours"]["rows_per_s"], figures["ceiling"]["rows_per_s"]
        line = f"exports {variant:8s} ours/ceiling {ours / ceiling:.2f}"
        if "pandas" in figures:
            line += f"  ours/pandas {ours / figures['pandas']['rows_per_s']:.1f}x"
        print(line, flush=True)


if __name__ == "__main__":
    main()
