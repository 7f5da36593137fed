"""Cost-export ingestion: our reader against DuckDB's bare scan and pandas on the same file, in one run.

Generates an EA actual-cost file with the 57 columns of dataset version 2024-08-01 (CSV; CSV.gz and Parquet
on request) under /tmp, then measures, each in a fresh process so peak RSS and CPU time are its own, the
kinds interleaved round after round (the machine is shared: a burst of load hits every kind alike):

- ours:    ExportReader.scan (every row normalized, money exact, exact sums per batch and cell, spilled)
           plus draining ExportScan.batches(): the Arrow rows a store would receive, one per source row
- bare:    DuckDB at its defaults scanning the same file: count() of each column the reader needs
- text:    DuckDB reading the same columns as text and handing them to Arrow, nothing else: the least any
           reader that passes every row on pays (the ceiling of ours/bare is bare/text)
- pandas:  read_csv/read_parquet of the same columns (default engine) and the cost summed per cell (float)
- pandas-exact: the same with the cost read as text and summed exactly (Decimal) per cell, as the job
           needs; printed for reference beside the float figure the target is checked against
- store:   (--store) ours plus CostRecordStore.replace_slice into a fresh SQLite database, end to end

Then prints the medians and the three ratios beside their targets: ours/bare ≥ 0.7, ours/pandas ≥ 2×,
peak RSS ours/pandas ≤ ¼.

Usage: .venv/bin/python bench/exports/run.py [--rows 5000000] [--rounds 3] [--variants csv,csv.gz,parquet]
                                             [--dir /tmp/aifinops-bench-exports] [--skip-pandas] [--store]
                                             [--before DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
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

# The source columns our reader reads (the CostRecord grain, the billing scope, cost and quantity): the bare
# scan and pandas read the same.
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
    "BillingProfileId",
]
_COLUMNS = [*_KEYS, "CostInBillingCurrency", "Quantity"]
_CELL = ["BillingProfileId", "SubscriptionId", "ResourceGroup", "Date", "BillingCurrencyCode"]
TARGETS = {"ours/bare": 0.7, "ours/pandas": 2.0, "peak ours/pandas": 0.25}


def _paths(folder: Path, rows: int) -> dict[str, Path]:
    stem = folder / f"ea_actualcost_{rows}"
    return {
        "csv": stem.with_suffix(".csv"),
        "csv.gz": stem.with_suffix(".csv.gz"),
        "parquet": stem.with_suffix(".parquet"),
    }


def generate(folder: Path, rows: int, kinds: list[str]) -> dict[str, Path]:
    """Write the requested variants once (reused when present with the same row count)."""
    import duckdb

    folder.mkdir(parents=True, exist_ok=True)
    paths = {k: p for k, p in _paths(folder, rows).items() if k in kinds}
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
    """Run one measurement in this process and return its figures (wall and CPU time from here)."""
    started, cpu = time.perf_counter(), time.process_time()
    if kind in ("ours", "store"):
        import tempfile

        from aifinops.domain import Basis
        from aifinops.sources.cost_exports import ExportReader

        with tempfile.TemporaryDirectory() as spill, ExportReader(temp_directory=spill) as reader:
            scan = reader.scan(path, basis=Basis.ACTUAL)
            check = float(scan.totals()["USD"])
            if kind == "ours":
                out = sum(batch.num_rows for batch in scan.batches())
                assert out == rows, f"{out} rows out of {rows}"
            else:
                import datetime as dt

                from aifinops.store import Store
                from aifinops.store.cost_records import CostRecordStore

                store = Store(f"sqlite:///{spill}/bench.db")
                store.upgrade()
                summary = CostRecordStore(store).replace_slice(
                    "bench", "s", Basis.ACTUAL, dt.date(2026, 10, 1), dt.date(2026, 11, 1), scan.batches()
                )
                assert summary.totals["USD"].amount == scan.stored_totals()["USD"]
                store.dispose()
    elif kind == "pandas":
        import pandas as pd

        frame = (
            pd.read_parquet(path, columns=_COLUMNS)
            if path.suffix == ".parquet"
            else pd.read_csv(path, usecols=_COLUMNS)
        )
        check = float(frame.groupby(_CELL, dropna=False)["CostInBillingCurrency"].sum().sum())
    elif kind == "pandas-exact":
        from decimal import Decimal

        import pandas as pd

        # the same read with the cost kept as written and summed exactly per cell, as the job needs
        text = {"CostInBillingCurrency": str}
        frame = (
            pd.read_parquet(path, columns=_COLUMNS)
            if path.suffix == ".parquet"
            else pd.read_csv(path, usecols=_COLUMNS, dtype=text)
        )
        frame["cost"] = frame["CostInBillingCurrency"].map(Decimal)
        check = float(sum(frame.groupby(_CELL, dropna=False)["cost"].sum(), Decimal(0)))
    elif kind == "text":
        import duckdb

        # the least a reader handing every row on must do: the same columns as text, out to Arrow
        con = duckdb.connect()
        names = ", ".join(_COLUMNS)
        source = (
            f"read_parquet('{path}')"
            if path.suffix == ".parquet"
            else f"read_csv('{path}', all_varchar = true)"
        )
        out = sum(
            b.num_rows for b in con.sql(f"SELECT {names} FROM {source}").to_arrow_reader(batch_size=50_000)
        )
        assert out == rows, out
        check = 0.0
    else:
        import duckdb

        source = f"read_parquet('{path}')" if path.suffix == ".parquet" else f"read_csv('{path}')"
        # every column the reader needs is read; the cost is summed (as auto-typed) for the cross-check
        reads = ", ".join(f"sum({c})" if c == "CostInBillingCurrency" else f"count({c})" for c in _COLUMNS)
        con = duckdb.connect()  # DuckDB at its defaults: every thread, its own memory limit
        got = con.sql(f"SELECT {reads} FROM {source}").fetchall()[0]
        assert got[0] == rows, got
        check = float(got[_COLUMNS.index("CostInBillingCurrency")])
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "seconds": seconds,
        "cpu": time.process_time() - cpu,
        "rows_per_s": rows / seconds,
        "peak_mib": usage.ru_maxrss / 1024,
        "check": check,
    }


def _child(kind: str, path: Path, rows: int, *, before: Path | None = None) -> dict[str, float]:
    env = None
    if kind == "before":  # our reader as another source tree has it (an earlier commit), same measure
        assert before is not None
        env = {**os.environ, "PYTHONPATH": str(before / "src")}
        kind = "ours"
    out = subprocess.run(
        [sys.executable, __file__, "--measure", kind, "--file", str(path), "--rows", str(rows)],
        capture_output=True,
        text=True,
        env=env,
    )
    if out.returncode != 0:
        raise SystemExit(f"{kind} on {path} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _line(variant: str, kind: str, f: dict[str, float]) -> str:
    return (
        f"exports {variant:8s} {kind:12s} {f['rows_per_s']:>10,.0f} rows/s  wall {f['seconds']:6.1f} s  "
        f"cpu {f['cpu']:6.1f} s  peak {f['peak_mib']:6.0f} MiB  total {f['check']:.2f}"
    )


def _verdict(name: str, value: float, *, at_most: bool = False) -> str:
    target = TARGETS[name]
    met = value <= target if at_most else value >= target
    return f"{name} {value:.2f} (target {'≤' if at_most else '≥'} {target:g}: {'met' if met else 'NOT met'})"


def _by_cpu_pandas(ratio: float) -> str:
    return (
        f"  cpu time pandas/ours {ratio:.2f} (pandas parses on one core, ours on two: on an idle machine "
        f"ours/pandas ≤ {2 * ratio:.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default="csv", help="comma-separated: csv, csv.gz, parquet")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/aifinops-bench-exports"))
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--store", action="store_true", help="also ours into SQLite, end to end (slow)")
    parser.add_argument(
        "--before",
        type=Path,
        help="also measure the reader of another source tree (e.g. `git archive <commit> src` unpacked "
        "there) in the same rounds: before and after from one run",
    )
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    variants = args.variants.split(",")
    if args.measure:
        print(json.dumps(_measure(args.measure, args.file, args.rows)))
        return
    paths = generate(args.dir, args.rows, variants)
    load = os.getloadavg()
    print(
        f"rows={args.rows:,} columns={len(EA_COLUMNS)} rounds={args.rounds} cores={os.cpu_count()} "
        f"load={load[0]:.1f} (a shared machine: kinds interleaved, wall and CPU time both shown)",
        flush=True,
    )
    kinds = ["bare", "text", "ours"] + (["before"] if args.before else [])
    kinds += [] if args.skip_pandas else ["pandas", "pandas-exact"]
    for variant in variants:
        path = paths[variant]
        runs: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
        for r in range(args.rounds):
            order = kinds[r % len(kinds) :] + kinds[: r % len(kinds)]  # who goes first rotates
            for kind in order:
                f = _child(kind, path, args.rows, before=args.before)
                runs[kind].append(f)
                print(_line(variant, kind, f) + f"  round {r + 1}", flush=True)
        med = {k: {m: statistics.median(f[m] for f in v) for m in v[0]} for k, v in runs.items()}
        for kind, f in med.items():
            print(_line(variant, kind, f) + "  median", flush=True)
        ours = med["ours"]
        bare, text = med["bare"], med["text"]
        # On a shared machine the wall times of one kind swing threefold from round to round; CPU time does
        # not, and with both on two cores and the machine to themselves, wall time follows it.
        print(
            f"exports {variant:8s} by CPU time: "
            + _verdict("ours/bare", bare["cpu"] / ours["cpu"])
            + (_by_cpu_pandas(med["pandas"]["cpu"] / ours["cpu"]) if "pandas" in med else ""),
            flush=True,
        )
        print(
            f"exports {variant:8s} "
            + _verdict("ours/bare", ours["rows_per_s"] / bare["rows_per_s"])
            + f"  [cpu time bare/ours {bare['cpu'] / ours['cpu']:.2f}; the columns as text to Arrow alone: "
            f"text/bare {text['rows_per_s'] / bare['rows_per_s']:.2f}, cpu time bare/text "
            f"{bare['cpu'] / text['cpu']:.2f}]",
            flush=True,
        )
        if "before" in med:
            print(
                f"exports {variant:8s} before/bare {med['before']['rows_per_s'] / bare['rows_per_s']:.2f}, "
                f"ours/before {ours['rows_per_s'] / med['before']['rows_per_s']:.2f}  [cpu time "
                f"bare/before {bare['cpu'] / med['before']['cpu']:.2f}, before/ours "
                f"{med['before']['cpu'] / ours['cpu']:.2f}]",
                flush=True,
            )
        if "pandas" in med:
            pandas = med["pandas"]
            print(
                f"exports {variant:8s} "
                + _verdict("ours/pandas", ours["rows_per_s"] / pandas["rows_per_s"])
                + "  "
                + _verdict("peak ours/pandas", ours["peak_mib"] / pandas["peak_mib"], at_most=True),
                flush=True,
            )
            exact = med["pandas-exact"]
            print(
                f"exports {variant:8s} for reference, pandas summing the cost exactly (Decimal per row): "
                f"ours/pandas-exact {ours['rows_per_s'] / exact['rows_per_s']:.2f}, "
                f"peak {ours['peak_mib'] / exact['peak_mib']:.2f}  [cpu time pandas/ours "
                f"{pandas['cpu'] / ours['cpu']:.2f}, pandas-exact/ours {exact['cpu'] / ours['cpu']:.2f}]",
                flush=True,
            )
        if args.store and variant == "csv":
            print(_line(variant, "store", _child("store", path, args.rows)) + "  (SQLite, end to end)")
    print(f"load average after: {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
