"""aifinops export: the demo month's tables as Parquet or CSV in a folder or a Blob Storage container —
typed as documented, summing to the bill, one file per table and month, replaced whole on re-export."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from azure.storage.blob import ContainerClient
from typer.testing import CliRunner

from aifinops.cli import app
from aifinops.cli.export import period_months
from aifinops.domain import Basis
from aifinops.emulator import EmulatedBlob, EmulatorState, SyncASGITransport, azure_transport, create_emulator
from aifinops.errors import ValidationError
from aifinops.jobs.export import BlobTarget, ExportFormat, FolderTarget, export_months
from aifinops.queries.export_tables import TABLES, Kind
from aifinops.queries.kpis import read_day_kpis
from aifinops.store import Store
from aifinops.store.cost_queries import read_cost_totals

NOV = "2026-11"
TYPES = {
    Kind.STRING: pa.string(),
    Kind.INT: pa.int64(),
    Kind.DECIMAL: pa.decimal128(38, 9),
    Kind.TIMESTAMP: pa.timestamp("us", tz="UTC"),
    Kind.DATE: pa.date32(),
}


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_parquet_tables_are_typed_as_documented_and_allocated_cost_sums_to_the_bill(
    demo_store: Store, tmp_path: Path
) -> None:
    written = export_months(demo_store, [NOV], fmt=ExportFormat.PARQUET, target=FolderTarget(tmp_path))
    assert _files(tmp_path) == sorted(f"table={t}/month={NOV}/part-0.parquet" for t in TABLES)
    read = {w.table: pq.read_table(tmp_path / w.name) for w in written}
    for name, columns in TABLES.items():
        assert read[name].schema == pa.schema([pa.field(c.name, TYPES[c.kind]) for c in columns])
        assert read[name].num_rows == next(w.rows for w in written if w.table == name) > 0
    cost = read["allocated_cost"].to_pylist()
    for basis, column in ((Basis.ACTUAL, "BilledCost"), (Basis.AMORTIZED, "EffectiveCost")):
        sums: dict[str, Decimal] = defaultdict(Decimal)
        for row in cost:
            if row["x_AllocationBasis"] == basis.value:
                sums[row["BillingCurrency"]] += row[column]
        bill = read_cost_totals(demo_store, dt.date(2026, 11, 1), dt.date(2026, 12, 1), basis=basis)
        assert dict(sums) == {c: m.amount for c, m in bill.items()}  # allocated + idle + unallocated, exact
    assert {r["x_AllocationBucket"] for r in cost} >= {"allocated", "idle", "unallocated"}
    assert any(r["x_AllocatedUseCase"] == "claim-triage" for r in cost)
    kpis = {(r["use_case"], r["basis"]): r for r in read["kpis"].to_pylist()}
    report = read_day_kpis(demo_store, dt.date(2026, 11, 1), dt.date(2026, 12, 1), by=("use_case",))
    for k in report.kpis:
        for c in k.costs:
            row = kpis[(k.group[0], c.basis.value)]
            assert row["tasks"] == k.tasks and row["succeeded"] == k.succeeded
            if c.per_successful_task is not None:
                assert row["cost_per_successful_task"] == c.per_successful_task.quantize(Decimal("1e-9"))


def test_reexport_replaces_the_month_whole_and_leaves_other_months(demo_store: Store, tmp_path: Path) -> None:
    target = FolderTarget(tmp_path)
    export_months(demo_store, ["2026-10", NOV], fmt=ExportFormat.PARQUET, target=target)
    october = {n: (tmp_path / n).read_bytes() for n in _files(tmp_path) if "2026-10" in n}
    first = (tmp_path / f"table=usage/month={NOV}/part-0.parquet").read_bytes()
    export_months(demo_store, [NOV], fmt=ExportFormat.PARQUET, target=target)
    assert pq.read_table(io.BytesIO(first)).equals(
        pq.read_table(tmp_path / f"table=usage/month={NOV}/part-0.parquet")
    )
    export_months(demo_store, [NOV], fmt=ExportFormat.CSV, target=target, tables=["usage"])
    assert _files(tmp_path / f"table=usage/month={NOV}") == ["part-0.csv"]  # the parquet part is gone
    assert {n: (tmp_path / n).read_bytes() for n in _files(tmp_path) if "2026-10" in n} == october
    rows = list(csv.DictReader((tmp_path / f"table=usage/month={NOV}/part-0.csv").open(encoding="utf-8")))
    assert list(rows[0]) == [c.name for c in TABLES["usage"]]
    parquet = pq.read_table(io.BytesIO(first)).to_pylist()
    assert sum(Decimal(r["estimated_cost"] or 0) for r in rows) == sum(
        r["estimated_cost"] or Decimal(0) for r in parquet
    )


@pytest.fixture
def container() -> Iterator[tuple[EmulatorState, ContainerClient]]:
    state = EmulatorState()
    transport = SyncASGITransport(create_emulator(state))
    http = httpx.Client(transport=transport)
    # Small single-put and block sizes: bigger files go up as blocks and one Put Block List.
    client = ContainerClient.from_container_url(
        "https://127.0.0.1/blob/stacct/powerbi",
        transport=azure_transport(http),
        max_single_put_size=16 * 1024,
        max_block_size=16 * 1024,
    )
    yield state, client
    http.close()
    transport.close()


def test_blob_export_writes_the_same_files_and_replaces_them_on_reexport(
    demo_store: Store, container: tuple[EmulatorState, ContainerClient]
) -> None:
    state, client = container
    stale = f"aifinops/table=tasks/month={NOV}/part-0.csv"
    state.put_blob("stacct", "powerbi", stale, EmulatedBlob(b"old"))
    state.put_blob("stacct", "powerbi", "aifinops/notes.txt", EmulatedBlob(b"kept"))
    target = BlobTarget(client, "aifinops/")
    written = export_months(demo_store, [NOV], fmt=ExportFormat.PARQUET, target=target)
    names = sorted(b.name for b in client.list_blobs())
    assert names == sorted(["aifinops/notes.txt", *(f"aifinops/{w.name}" for w in written)])
    tasks = next(w for w in written if w.table == "tasks")
    assert tasks.bytes > 16 * 1024  # went up in blocks
    data = client.download_blob(f"aifinops/{tasks.name}").readall()
    assert pq.read_table(io.BytesIO(data)).num_rows == tasks.rows
    export_months(demo_store, [NOV], fmt=ExportFormat.PARQUET, target=target)
    assert sorted(b.name for b in client.list_blobs()) == names
    assert state.blobs[("stacct", "powerbi", f"aifinops/{tasks.name}")].content == data


def test_period_months_takes_a_month_or_an_inclusive_range() -> None:
    assert period_months("2026-11") == ["2026-11"]
    assert period_months("2026-11..2027-01") == ["2026-11", "2026-12", "2027-01"]
    for bad in ("2026-13", "Nov 2026", "2026-11..2026-10"):
        with pytest.raises(ValidationError):
            period_months(bad)


def test_cli_exports_csv_to_a_folder_and_refuses_a_bad_period(
    demo_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIFINOPS_DATABASE_URL", demo_store.url)
    runner = CliRunner()
    out = tmp_path / "export"
    done = runner.invoke(
        app, ["export", "--period", NOV, "--format", "csv", "--to", str(out), "--tables", "kpis"]
    )
    assert done.exit_code == 0, done.output
    assert _files(out) == [f"table=kpis/month={NOV}/part-0.csv"]
    bad = runner.invoke(app, ["export", "--period", "November", "--to", str(out)])
    assert bad.exit_code != 0
    assert "--period takes a month YYYY-MM" in str(bad.exception) + bad.output


def test_docs_describe_every_exported_column() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "export.md").read_text(encoding="utf-8")
    for name, columns in TABLES.items():
        section = doc.split(f"## `{name}`", 1)[1].split("\n## ", 1)[0]
        for column in columns:
            assert f"| `{column.name}` | {column.kind.value} |" in section, (name, column.name)
