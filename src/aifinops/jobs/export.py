"""Exporting a period's tables as Parquet or CSV files, one file per table and month, to a folder or a Blob
Storage container — the files a Power BI or Fabric model (or a spreadsheet) reads.

Layout: ``table=<name>/month=<YYYY-MM>/part-0.<parquet|csv>``. A re-export of a month replaces each of its
table files in one step (a rename in a folder, one committed blob in a container), so a reader sees the
old file or the new one, never a mix, and never two; other ``part-*`` files left in that month's folder
(say, the CSV of an earlier export in another format) are removed after.
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from itertools import islice
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from aifinops.queries.export_tables import TABLES, Column, ExportTable, Kind, month_tables
from aifinops.store import Store

__all__ = [
    "BlobTarget",
    "ExportFormat",
    "ExportTarget",
    "FolderTarget",
    "WrittenFile",
    "export_months",
    "partition_name",
]

_BATCH = 50_000
_NANO = Decimal("1e-9")
_ARROW = {
    Kind.STRING: pa.string(),
    Kind.INT: pa.int64(),
    Kind.DECIMAL: pa.decimal128(38, 9),
    Kind.TIMESTAMP: pa.timestamp("us", tz="UTC"),
    Kind.DATE: pa.date32(),
}


class ExportFormat(StrEnum):
    PARQUET = "parquet"
    CSV = "csv"


@dataclass(frozen=True, slots=True)
class WrittenFile:
    table: str
    month: str
    name: str  # relative to the target, e.g. table=usage/month=2026-11/part-0.parquet
    rows: int
    bytes: int


class ExportTarget(Protocol):
    """Where files go: ``publish`` replaces one file atomically, ``prune`` drops a folder's other parts."""

    def publish(self, local: Path, name: str, *, content_type: str) -> None: ...

    def prune(self, folder: str, *, keep: str) -> None: ...


class FolderTarget:
    """A local (or mounted) folder; files are renamed into place from a temporary file beside them."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def publish(self, local: Path, name: str, *, content_type: str) -> None:
        final = self.root / name
        final.parent.mkdir(parents=True, exist_ok=True)
        # Copy next to the final name first: os.replace is atomic only within one filesystem.
        with (
            tempfile.NamedTemporaryFile(dir=final.parent, prefix=".part-", delete=False) as tmp,
            local.open("rb") as src,
        ):
            shutil.copyfileobj(src, tmp)
        os.replace(tmp.name, final)

    def prune(self, folder: str, *, keep: str) -> None:
        for path in (self.root / folder).glob("part-*"):
            if path.name != keep:
                path.unlink()


class BlobTarget:
    """An Azure Blob Storage container (azure-storage-blob ``ContainerClient``) under a name prefix."""

    def __init__(self, container: Any, prefix: str = "") -> None:
        self.container = container
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def publish(self, local: Path, name: str, *, content_type: str) -> None:
        from azure.storage.blob import ContentSettings

        with local.open("rb") as data:  # one Put Blob, or blocks committed at once by Put Block List
            self.container.upload_blob(
                self.prefix + name,
                data,
                overwrite=True,
                content_settings=ContentSettings(content_type=content_type),
            )

    def prune(self, folder: str, *, keep: str) -> None:
        base = f"{self.prefix}{folder}/"
        for blob in self.container.list_blobs(name_starts_with=base):
            leaf = blob.name[len(base) :]
            if "/" not in leaf and leaf.startswith("part-") and leaf != keep:
                self.container.delete_blob(blob.name)


def partition_name(table: str, month: str) -> str:
    """``table=usage/month=2026-11``."""
    return f"table={table}/month={month}"


def _batches(rows: Iterable[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    it = iter(rows)
    while batch := list(islice(it, _BATCH)):
        yield batch


def _decimal(value: Any) -> Any:
    # Money is already exact to the nano; ratios are rounded half-even to nine decimals.
    return value.quantize(_NANO, rounding=ROUND_HALF_EVEN) if isinstance(value, Decimal) else value


def _arrow_batch(
    columns: Sequence[Column], schema: pa.Schema, batch: list[tuple[Any, ...]]
) -> pa.RecordBatch:
    arrays = []
    for i, column in enumerate(columns):
        values = [row[i] for row in batch]
        if column.kind is Kind.DECIMAL:
            values = [_decimal(v) for v in values]
        arrays.append(pa.array(values, type=schema.field(i).type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _write_parquet(table: ExportTable, path: Path) -> int:
    schema = pa.schema([pa.field(c.name, _ARROW[c.kind]) for c in table.columns])
    rows = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for batch in _batches(table.rows()):
            writer.write_batch(_arrow_batch(table.columns, schema, batch))
            rows += len(batch)
        if not rows:
            writer.write_table(schema.empty_table())
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(_decimal(value).normalize(), "f")
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def _write_csv(table: ExportTable, path: Path) -> int:
    rows = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(c.name for c in table.columns)
        for row in table.rows():
            writer.writerow(_cell(v) for v in row)
            rows += 1
    return rows


_WRITERS = {ExportFormat.PARQUET: _write_parquet, ExportFormat.CSV: _write_csv}
_CONTENT_TYPES = {ExportFormat.PARQUET: "application/vnd.apache.parquet", ExportFormat.CSV: "text/csv"}


def export_months(
    store: Store,
    months: Sequence[str],
    *,
    fmt: ExportFormat,
    target: ExportTarget,
    tables: Sequence[str] = tuple(TABLES),
) -> list[WrittenFile]:
    """Write ``tables`` of every month in ``months`` (``YYYY-MM``) to ``target``, replacing what an earlier
    export wrote for those months; other months are left alone."""
    leaf = f"part-0.{fmt.value}"
    written = []
    with tempfile.TemporaryDirectory(prefix="aifinops-export-") as work:
        for month in months:
            for table in month_tables(store, month, tables=tables):
                local = Path(work) / f"{table.name}-{month}.{fmt.value}"
                rows = _WRITERS[fmt](table, local)
                folder = partition_name(table.name, month)
                target.publish(local, f"{folder}/{leaf}", content_type=_CONTENT_TYPES[fmt])
                target.prune(folder, keep=leaf)
                written.append(WrittenFile(table.name, month, f"{folder}/{leaf}", rows, local.stat().st_size))
                local.unlink()
    return written
