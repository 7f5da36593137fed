"""Export rows streamed batch by batch: the same rows, exact sums and cells whatever the batch size, exact
money for every kind of number text, and a reader thread that hands its errors over."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from decimal import Decimal, localcontext
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aifinops.domain import Basis, split_nanos, to_nanos
from aifinops.sources.cost_exports import ExportReader
from aifinops.sources.export_batches import prefetched
from tests.factories import SAMPLES_DIR

EXPORTS = SAMPLES_DIR / "azure-cost-export"
EA_AMORTIZED = EXPORTS / "finops-toolkit/EA_AmortizedCost_Small.csv"
EA_CAD = EXPORTS / "focus-converters/sample-anonymous-ea-export-dataset.csv"


@pytest.mark.parametrize(("path", "basis"), [(EA_AMORTIZED, None), (EA_CAD, Basis.ACTUAL)])
def test_batch_size_changes_nothing(path: Path, basis: Basis | None) -> None:
    with ExportReader() as whole, ExportReader(batch_rows=3) as small:
        one, many = whole.scan(path, basis=basis), small.scan(path, basis=basis)
        assert dict(many.totals()) == dict(one.totals())
        assert dict(many.stored_totals()) == dict(one.stored_totals())
        assert many.cells() == one.cells() and many.day_range() == one.day_range()
        assert many.source_rows == one.source_rows
        key = lambda r: (str(r.billing_day), r.meter_id or "", r.resource_id or "", r.cost)  # noqa: E731
        assert sorted(many.records(), key=key) == sorted(one.records(), key=key)


def _file(folder: str, values: list[str]) -> Path:
    path = Path(folder) / "n_ActualCost.csv"
    lines = ["Date,MeterId,Cost,Quantity,BillingCurrency"]
    lines += [f"09/01/2023,m{i},{v},{v},USD" for i, v in enumerate(values)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


_NUMBER = st.one_of(
    st.decimals(min_value=Decimal("-9e9"), max_value=Decimal("9e9"), places=18, allow_nan=False),
    st.decimals(min_value=Decimal("-1e3"), max_value=Decimal("1e3"), places=30, allow_nan=False),
    st.decimals(min_value=Decimal("-9e9"), max_value=Decimal("9e9"), places=4, allow_nan=False),
)


@settings(max_examples=15, deadline=None)
@given(st.lists(_NUMBER, min_size=1, max_size=12))
def test_every_number_is_split_as_the_domain_splits_it(values: list[Decimal]) -> None:
    # up to 18 decimals the casts read it, past 18 or past a billion units Decimal does: the same rule
    with ExportReader(batch_rows=4) as reader, tempfile.TemporaryDirectory() as folder:
        scan = reader.scan(_file(folder, [format(v, "f") for v in values]))
        got = {r.meter_id: (r.cost, r.quantity) for r in scan.records()}
        for i, v in enumerate(values):
            nanos, rest = split_nanos(v)
            assert got[f"m{i}"][0] == (Decimal(nanos * 10**9 + rest).scaleb(-18)), v
            assert to_nanos(got[f"m{i}"][1]) == to_nanos(v), v
        with localcontext() as ctx:
            ctx.prec = 100  # the exact sum: the default 28 digits would round it
            assert scan.totals().get("USD", Decimal(0)) == sum(values, Decimal(0))
        assert scan.issues == []


@pytest.mark.parametrize("batch_rows", [1, 2, 50_000])
def test_batch_sums_that_overflow_64_bits_stay_exact(batch_rows: int) -> None:
    # one row a batch: 64-bit batches and 128-bit sums are grouped together again and again
    values = ["9000000000.5", "8999999999.25", "-1.000000001", "9000000000.125", "-9000000000.5", "3"] * 4
    with ExportReader(batch_rows=batch_rows) as reader, tempfile.TemporaryDirectory() as folder:
        scan = reader.scan(_file(folder, values))
        assert scan.totals() == {"USD": sum(map(Decimal, values), Decimal(0))}
        assert scan.stored_totals() == scan.totals()


def test_a_row_past_what_the_store_holds_is_refused_and_reported() -> None:
    with ExportReader() as reader, tempfile.TemporaryDirectory() as folder:
        scan = reader.scan(_file(folder, ["1.5", "10000000000"]))
        assert scan.totals() == {"USD": Decimal("1.5")} and scan.source_rows == 1
        assert [i.line for i in scan.issues] == [3]


def test_spaces_around_a_number_and_absent_quantities() -> None:
    with ExportReader() as reader, tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "s_ActualCost.csv"
        path.write_text(
            "Date,MeterId,Cost,Quantity,BillingCurrency\n"
            "09/01/2023,a, 1.25 ,NULL,USD\n09/01/2023,b,2,,USD\n09/01/2023,c,3, 4 ,USD\n",
            encoding="utf-8",
        )
        scan = reader.scan(path)
        got = {r.meter_id: (r.cost, r.quantity) for r in scan.records()}
        assert got == {"a": (Decimal("1.25"), None), "b": (Decimal(2), None), "c": (Decimal(3), Decimal(4))}
        assert scan.issues == []


def test_scientific_notation_past_18_decimals_keeps_the_file_total_exact() -> None:
    # "1.23456789012345E-10" holds 24 decimals: its 18-decimal row value leaves a tail the total keeps
    values = ["1.23456789012345E-10", "2.5e-30", "4E2"]
    with ExportReader() as reader, tempfile.TemporaryDirectory() as folder:
        scan = reader.scan(_file(folder, values))
        with localcontext() as ctx:
            ctx.prec = 100
            assert scan.totals() == {"USD": sum(map(Decimal, values), Decimal(0))}
        assert scan.stored_totals() == {"USD": Decimal("400.000000000123456789")}
        assert scan.issues == []


def test_underscores_and_words_are_not_numbers() -> None:
    # DuckDB's cast reads "1_000" as 1000; an export never writes it, so it is refused like any non-number
    with ExportReader() as reader, tempfile.TemporaryDirectory() as folder:
        scan = reader.scan(_file(folder, ["1_000", "abc", "2"]))
        assert scan.totals() == {"USD": Decimal(2)} and scan.source_rows == 1
        assert [i.line for i in scan.issues] == [2, 3]


def _batches(n: int, *, fail_at: int | None = None) -> Iterator[pa.RecordBatch]:
    for i in range(n):
        if i == fail_at:
            raise ValueError("the reader broke")
        yield pa.record_batch({"i": [i]})


def test_prefetched_yields_every_batch_in_order_and_hands_errors_over() -> None:
    assert [b.column(0)[0].as_py() for b in prefetched(_batches(7))] == list(range(7))
    seen = []
    with pytest.raises(ValueError, match="the reader broke"):
        for b in prefetched(_batches(7, fail_at=4)):
            seen.append(b.column(0)[0].as_py())
    assert seen == [0, 1, 2, 3]


def test_prefetched_stops_its_thread_when_the_consumer_stops() -> None:
    stream = prefetched(_batches(1000), depth=1)
    assert next(stream).column(0)[0].as_py() == 0
    stream.close()  # joins the reader thread: it must not wait forever on a full queue
