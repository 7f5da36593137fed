"""Export rows as they stream out of DuckDB: keys normalized per distinct value, money split exactly, and the
exact totals of each batch.

:func:`aifinops.sources.export_sql.rows_sql` hands over Arrow batches with one row per source row: raw key
texts and the cost and quantity cast to ``DECIMAL(38,18)`` and to half-away nanos. Here, per batch:

- each key column is dictionary-encoded (a column holding one value throughout the batch by a comparison)
  and only values not seen before go through the normalizing SQL of
  :func:`~aifinops.sources.export_sql.scan_plan` (dates, lower-cased ids, tags as JSON): an export repeats
  its keys, so millions of rows cost a few thousand normalizations;
- the cost becomes half-even nanos plus the rest below one nano in 10⁻¹⁸ units
  (:func:`aifinops.domain.split_nanos`) and a tail in 10⁻³⁶ units (what the 18-decimal rounding left, so
  file totals stay exact to 36 places), with integer arithmetic on the decimals' own integers; the rare text
  the casts could not hold exactly is read with ``Decimal``;
- :class:`BatchTotals` adds the batch's exact sums per cell and currency, on integer keys (64-bit sums
  where they cannot overflow, 128-bit decimals where they could, Python ints once at the end): what the
  overlap checks, the day range and the totals need, with no aggregation to the cost-record grain.
"""

from __future__ import annotations

import datetime as dt
import queue
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation, localcontext

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aifinops.domain import COST_ROW_COLUMNS, split_nanos, to_nanos
from aifinops.sources.export_sql import NUMBER_PATTERN, RAW_KEYS, ScanPlan, resource_key

__all__ = ["SPILL_SCHEMA", "SUMMARY_KEYS", "BatchNormalizer", "BatchTotals", "CellSums"]

_STRING_KEYS = (*COST_ROW_COLUMNS[1:16], "billing_scope")
#: The columns a normalized batch carries (and a scan spills to Parquet): the stored row's columns but
#: ``source_rows`` (always 1), plus the billing scope the cells need.
SPILL_SCHEMA = pa.schema(
    [
        pa.field("billing_day", pa.date32()),
        *(pa.field(c, pa.dictionary(pa.int32(), pa.string())) for c in _STRING_KEYS),
        pa.field("cost_nanos", pa.int64()),
        pa.field("cost_rem_e18", pa.int64()),
        pa.field("quantity_nanos", pa.int64()),
    ]
)
#: What the exact sums are kept per: the cell of a delivery (billing scope, subscription, resource group,
#: day), the currency, and whether the rows are refused.
SUMMARY_KEYS = ("billing_scope", "subscription_id", "resource_group", "billing_day", "currency", "bad")
_E9 = 10**9
_E18 = 10**18
_PLAIN = re.compile(NUMBER_PATTERN)
_STORABLE = 2**63
_MAX_DECIMALS = 36  # deeper digits are refused: no Azure amount carries them
_ABSENT = ("", "NULL", "null")  # a number that is not there (FOCUS files write the literal NULL)


@dataclass(slots=True)
class CellSums:
    """Exact sums of one summary key: nanos, rest in 10⁻¹⁸, tail in 10⁻³⁶, rows, rows with bad tags."""

    nanos: int = 0
    rest: int = 0
    tail: int = 0
    rows: int = 0
    tags_bad: int = 0

    @property
    def e18(self) -> int:
        """The amount rounded per row to 18 decimals, in 10⁻¹⁸ units."""
        return self.nanos * _E9 + self.rest

    def add(self, other: CellSums) -> None:
        self.nanos += other.nanos
        self.rest += other.rest
        self.tail += other.tail
        self.rows += other.rows
        self.tags_bad += other.tags_bad


_MONEY = ("cost_nanos", "cost_rem_e18", "tail")
_COUNTS = ("rows", "tags_bad")
_EXACT = pa.decimal128(38, 0)
_COMPACT_ROWS = 400_000


class BatchTotals:
    """Exact sums per :data:`SUMMARY_KEYS`, batch after batch.

    The text keys of a batch become integers that hold for the whole scan (one id per distinct value), so
    the batches are summed on integer keys only: they are kept as they come and grouped together, with the
    sums so far, whenever they pass ``compact_rows`` rows and when :attr:`sums` is read (64-bit sums where
    the rows cannot overflow them, 128-bit decimals where they could). The ids turn back into values once.
    """

    def __init__(self, *, compact_rows: int = _COMPACT_ROWS) -> None:
        self.compact_rows = compact_rows
        self._ids: dict[str, dict[object, int]] = {}
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._sums: dict[tuple[object, ...], CellSums] = {}

    def _global(self, key: str, column: pa.DictionaryArray) -> np.ndarray:
        ids = self._ids.setdefault(key, {})
        values = column.dictionary.to_pylist()
        local = np.fromiter((ids.setdefault(v, len(ids)) for v in values), np.int32, len(values))
        indices = column.indices.to_numpy(zero_copy_only=False)
        return local[indices] if len(local) else np.zeros(len(indices), np.int32)

    def add_batch(self, batch: pa.RecordBatch, tail: pa.Array) -> None:
        """Add one normalized batch (with its ``bad`` and ``tags_invalid`` columns) and its cost tails."""
        columns: dict[str, pa.Array | np.ndarray] = {}
        for k in SUMMARY_KEYS:
            column = batch.column(k)
            if pa.types.is_dictionary(column.type):
                columns[k] = self._global(k, column)
            elif k == "billing_day":
                columns[k] = pc.cast(column, pa.int32())
            else:
                columns[k] = column
        columns |= {
            "cost_nanos": batch.column("cost_nanos"),
            "cost_rem_e18": batch.column("cost_rem_e18"),
            "tail": tail,
            "rows": np.ones(batch.num_rows, np.int64),
            "tags_bad": pc.cast(batch.column("tags_invalid"), pa.int64()),
        }
        self._pending.append(pa.table(columns))
        self._pending_rows += batch.num_rows
        if self._pending_rows > self.compact_rows:
            self._compact()

    def _compact(self) -> pa.Table:
        grouped = _group(self._pending)
        self._pending, self._pending_rows = [grouped], grouped.num_rows
        return grouped

    @property
    def sums(self) -> dict[tuple[object, ...], CellSums]:
        """The sums so far, per summary key (a plain dict: dropping a key drops its rows)."""
        if self._pending:
            table = self._compact()
            self._pending, self._pending_rows = [], 0
            keys = []
            for k in SUMMARY_KEYS:
                column = table.column(k)
                if k in self._ids:
                    values = list(self._ids[k])
                    keys.append([values[i] for i in column.to_pylist()])
                elif k == "billing_day":
                    keys.append(pc.cast(column, pa.date32()).to_pylist())
                else:
                    keys.append(column.to_pylist())
            numbers = [table.column(c).to_pylist() for c in (*_MONEY, *_COUNTS)]
            for *key, nanos, rest, tail, rows, tags_bad in zip(*keys, *numbers, strict=True):
                self.merge(tuple(key), CellSums(int(nanos), int(rest), int(tail), rows, tags_bad))
        return self._sums

    def merge(self, key: tuple[object, ...], sums: CellSums) -> None:
        held = self._sums.get(key)
        if held is None:
            self._sums[key] = CellSums(sums.nanos, sums.rest, sums.tail, sums.rows, sums.tags_bad)
        else:
            held.add(sums)

    def extend(self, other: BatchTotals) -> None:
        for key, sums in other.sums.items():
            self.merge(key, sums)

    def good(self) -> Iterator[tuple[tuple[object, ...], CellSums]]:
        """The sums of the rows kept (``bad`` false), keyed by the summary key without ``bad``."""
        for key, sums in self.sums.items():
            if not key[-1]:
                yield key[:-1], sums


def _summable(tables: list[pa.Table], column: str) -> pa.DataType:
    """The type ``column`` of ``tables`` sums exactly in: int64 when no sum of its values can overflow it."""
    chunks = [chunk for t in tables for chunk in t.column(column).chunks]
    if any(chunk.type != pa.int64() for chunk in chunks):
        return _EXACT
    bounds = pc.min_max(pa.chunked_array(chunks, pa.int64()))
    low, high = bounds["min"].as_py() or 0, bounds["max"].as_py() or 0
    return pa.int64() if max(-low, high) * sum(map(len, chunks)) < 2**63 else _EXACT


def _narrow(summed: pa.ChunkedArray) -> pa.ChunkedArray:
    """128-bit sums back to int64 when they fit, so the next grouping stays on 64 bits."""
    if summed.type == pa.int64() or not len(summed):
        return summed
    bounds = pc.min_max(summed)
    fits = all(-(2**63) < int(b.as_py() or 0) < 2**63 for b in (bounds["min"], bounds["max"]))
    return pc.cast(summed, pa.int64()) if fits else summed


def _group(tables: list[pa.Table]) -> pa.Table:
    """Sums per summary key of ``tables`` (raw batches and sums this function made)."""
    exact = {c: _summable(tables, c) for c in _MONEY}
    schema = pa.schema([pa.field(f.name, exact.get(f.name, f.type)) for f in tables[0].schema])
    table = pa.concat_tables([t.cast(schema) for t in tables])
    aggregates = [(c, "sum") for c in (*_MONEY, *_COUNTS)]
    grouped = table.group_by(list(SUMMARY_KEYS), use_threads=False).aggregate(aggregates)
    out = [grouped.column(k) for k in SUMMARY_KEYS]
    out += [_narrow(grouped.column(f"{c}_sum")) for c in _MONEY]
    out += [grouped.column(f"{c}_sum") for c in _COUNTS]
    return pa.table(out, names=[*SUMMARY_KEYS, *_MONEY, *_COUNTS])


def _lows(array: pa.Array) -> np.ndarray:
    """The low 64 bits of each decimal128's integer (two's complement, as uint64)."""
    words = np.frombuffer(array.buffers()[1], dtype=np.uint64)
    return words[2 * array.offset : 2 * (array.offset + len(array)) : 2]


def _split(e18_array: pa.Array, n9_array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Half-even nanos and the rest in 10⁻¹⁸ units from a ``DECIMAL(38,18)`` and the half-away nanos of the
    same value. Both fit 64 bits where the casts succeeded; rows where one is null come out as zero."""
    nanos = _lows(n9_array).view(np.int64).copy()
    with np.errstate(over="ignore"):
        rest = (_lows(e18_array) - nanos.view(np.uint64) * np.uint64(_E9)).view(np.int64).copy()
    # half-away picked the odd neighbour of a tie: half-even takes the other one
    tie = (np.abs(rest) == _E9 // 2) & (nanos % 2 != 0)
    step = np.sign(rest[tie])
    nanos[tie] += step
    rest[tie] -= step * _E9
    return nanos, rest


def _exact(text: str) -> Decimal | None:
    """A number text read with Decimal, or None when it is not a plain number with at most 36 decimals."""
    text = text.strip()
    if not _PLAIN.fullmatch(text):
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    exponent = value.as_tuple().exponent
    return value if isinstance(exponent, int) and exponent >= -_MAX_DECIMALS else None


def _tail(value: Decimal, nanos: int, rest: int) -> int:
    """What rounding ``value`` to 18 decimals left, in 10⁻³⁶ units."""
    with localcontext() as ctx:
        ctx.prec = 120
        exact = int(value.scaleb(36).to_integral_value(rounding=ROUND_HALF_EVEN))
    return exact - (nanos * _E9 + rest) * _E18


@dataclass(slots=True)
class _Numbers:
    cost_nanos: np.ndarray
    cost_rem: np.ndarray
    tail: np.ndarray
    cost_ok: np.ndarray
    quantity: pa.Array
    quantity_ok: np.ndarray


def _numbers(batch: pa.RecordBatch) -> _Numbers:
    """The cost (nanos, rest, tail) and quantity nanos of a raw batch, exact, with what failed to read."""
    n = batch.num_rows
    cost_nanos, cost_rem = _split(batch.column("c_18"), batch.column("c_9"))
    cost_ok = _fast(batch, "c")
    tail = np.zeros(n, dtype=np.int64)
    for i, text in _slow_rows(batch.column("c_exact")):
        value = _exact(text)
        if value is None:
            continue
        nanos, rest = split_nanos(value)
        if abs(nanos) < _STORABLE:  # else refused: the store holds nanos in 64 bits (±9.2 billion units)
            cost_nanos[i], cost_rem[i], tail[i] = nanos, rest, _tail(value, nanos, rest)
            cost_ok[i] = True
    q_nanos, _ = _split(batch.column("q_18"), batch.column("q_9"))
    # half-even nanos of the quantity: the rest only decided the tie, so the nanos alone are kept
    q_ok = _fast(batch, "q")
    q_absent = pc.and_(pc.is_null(batch.column("q_9")), pc.is_null(batch.column("q_exact")))
    q_absent = q_absent.to_numpy(zero_copy_only=False).copy()
    for i, text in _slow_rows(batch.column("q_exact")):
        value = _exact(text)
        if value is not None and abs(nanos := to_nanos(value)) < _STORABLE:
            q_nanos[i], q_ok[i] = nanos, True
        elif text.strip() in _ABSENT:
            q_absent[i] = True
    quantity = pa.array(q_nanos, type=pa.int64(), mask=~q_ok)
    return _Numbers(cost_nanos, cost_rem, tail, cost_ok, quantity, q_ok | q_absent)


def _fast(batch: pa.RecordBatch, prefix: str) -> np.ndarray:
    """Rows whose number the casts read exactly (a writable bool array)."""
    cast = pc.and_(pc.is_null(batch.column(f"{prefix}_exact")), pc.is_valid(batch.column(f"{prefix}_9")))
    ok: np.ndarray = cast.to_numpy(zero_copy_only=False).copy()
    return ok


def _slow_rows(column: pa.Array) -> Iterator[tuple[int, str]]:
    if column.null_count == len(column):
        return
    for i, text in enumerate(column.to_pylist()):
        if text is not None:
            yield i, text


class BatchNormalizer:
    """Turns raw batches of one scan plan into normalized batches, caching each key value's normal form."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, plan: ScanPlan) -> None:
        self.conn = conn
        self.plan = plan
        self._cache: dict[str, dict[str | None, tuple[object, ...]]] = {f: {} for f in RAW_KEYS}
        self._names: dict[str, tuple[str, ...]] = {
            f: tuple(e.rsplit(" AS ", 1)[1] for e in plan.keys[f]) for f in RAW_KEYS
        }

    def _learn(self, key: str, values: list[str | None]) -> None:
        cache = self._cache[key]
        new = [v for v in values if v not in cache]
        if key == "resource_id":  # the many distinct ids: read in Python where it gives the SQL's answer
            left = []
            for v in new:
                if (normal := resource_key(v)) is None:
                    left.append(v)
                else:
                    cache[v] = normal
            new = left
        if not new:
            return
        select = ", ".join([f"k_{key}", *self.plan.keys[key]])
        rel = self.conn.execute(f"SELECT {select} FROM (SELECT unnest(?::VARCHAR[]) AS k_{key})", [new])
        for raw, *normal in rel.fetchall():
            cache[raw] = tuple(normal)

    def _normalized(self, key: str, column: pa.Array) -> dict[str, pa.Array]:
        encoded = _encoded(column)
        values = encoded.dictionary.to_pylist()
        self._learn(key, values)
        cache = self._cache[key]
        out: dict[str, pa.Array] = {}
        for j, name in enumerate(self._names[key]):
            normal = [cache[v][j] for v in values]
            if name == "billing_day":
                out[name] = pa.array(normal, type=pa.date32()).take(encoded.indices)
            elif name == "tags_invalid":
                out[name] = pa.array(normal, type=pa.bool_()).take(encoded.indices)
            else:
                dictionary = pa.array(normal, type=pa.string())
                out[name] = pa.DictionaryArray.from_arrays(encoded.indices, dictionary)
                if name == "currency":
                    out["currency_missing"] = pa.array([v is None for v in normal]).take(encoded.indices)
        return out

    def normalize(self, raw: pa.RecordBatch) -> tuple[pa.RecordBatch, pa.Array]:
        """A raw batch as :data:`SPILL_SCHEMA` columns plus ``bad`` and ``tags_invalid``; and its cost
        tails (10⁻³⁶ units)."""
        columns: dict[str, pa.Array] = {}
        for key in RAW_KEYS:
            columns |= self._normalized(key, raw.column(f"k_{key}"))
        numbers = _numbers(raw)
        columns["cost_nanos"] = pa.array(numbers.cost_nanos, type=pa.int64())
        columns["cost_rem_e18"] = pa.array(numbers.cost_rem, type=pa.int64())
        columns["quantity_nanos"] = numbers.quantity
        readable = numbers.cost_ok & numbers.quantity_ok
        bad = pc.or_kleene(
            pa.array(~readable),
            pc.or_(pc.is_null(columns["billing_day"]), columns["currency_missing"]),
        )
        columns["bad"] = bad
        names = [*SPILL_SCHEMA.names, "bad", "tags_invalid"]
        return pa.RecordBatch.from_arrays([columns[n] for n in names], names=names), pa.array(numbers.tail)


def _encoded(column: pa.Array) -> pa.DictionaryArray:
    """``column`` dictionary-encoded (a null is a value); a column holding one value throughout, as many
    export columns do, is found by a comparison, cheaper than hashing every text."""
    if len(column) and (
        column.null_count == len(column)
        or (column.null_count == 0 and pc.all(pc.equal(column, column[0])).as_py())
    ):
        indices = pa.array(np.zeros(len(column), dtype=np.int32))
        return pa.DictionaryArray.from_arrays(indices, column.slice(0, 1))
    return pc.dictionary_encode(column, null_encoding="encode")


def prefetched(batches: Iterable[pa.RecordBatch], depth: int = 2) -> Iterator[pa.RecordBatch]:
    """``batches`` read ahead by a thread: DuckDB parses the next batch while this one is normalized (both
    release the GIL). An error in the reader is raised here, where the batch would have been."""
    ready: queue.Queue[pa.RecordBatch | BaseException | None] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand(item: pa.RecordBatch | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False  # the consumer is gone

    def read() -> None:
        try:
            for batch in batches:
                if not hand(batch):
                    return
            hand(None)
        except BaseException as exc:  # handed to the consumer, raised there
            hand(exc)

    reader = threading.Thread(target=read, name="export-scan-reader", daemon=True)
    reader.start()
    try:
        while (item := ready.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()


def stored(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The good rows of a normalized batch as :data:`SPILL_SCHEMA` columns (what is spilled and stored)."""
    kept = batch.filter(pc.invert(batch.column("bad")))
    return pa.RecordBatch.from_arrays([kept.column(n) for n in SPILL_SCHEMA.names], schema=SPILL_SCHEMA)


def day_range(totals: BatchTotals) -> tuple[dt.date, dt.date] | None:
    """First and last billing day of the rows kept, or None when there are none."""
    days = [d for key, _ in totals.good() if isinstance(d := key[3], dt.date)]
    return (min(days), max(days)) if days else None


def per_currency(rows: Iterable[tuple[tuple[object, ...], CellSums]]) -> Mapping[str, CellSums]:
    out: dict[str, CellSums] = {}
    for key, sums in rows:
        out.setdefault(str(key[4]), CellSums()).add(sums)
    return out
