"""Cost exports read through DuckDB: every quirk of the real sample files, FACTS.md totals to the digit."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import shutil
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aifinops.domain import Basis, to_nanos
from aifinops.errors import SourceFormatError
from aifinops.sources.cost_exports import ExportReader
from aifinops.sources.export_runs import local_runs
from aifinops.sources.export_schemas import SchemaKind, detect_schema, parse_manifest
from tests.factories import SAMPLES_DIR

SAMPLES = SAMPLES_DIR
EXPORTS = SAMPLES / "azure-cost-export"
EA_ACTUAL = EXPORTS / "finops-toolkit/EA_ActualCost_Small.csv"
EA_AMORTIZED = EXPORTS / "finops-toolkit/EA_AmortizedCost_Small.csv"
EA_CAD = EXPORTS / "focus-converters/sample-anonymous-ea-export-dataset.csv"
OPENCOST = EXPORTS / "opencost"
FOCUS = SAMPLES / "focus/focus-sample-data/focus_sample.csv"


@pytest.fixture
def reader() -> Iterator[ExportReader]:
    with ExportReader() as r:
        yield r


def _raw_total(path: Path, column: str) -> Decimal:
    """The file total straight from the text with Decimal: the reference the reader must equal."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return sum((Decimal(row[column]) for row in csv.DictReader(fh)), Decimal(0))


def test_ea_actual_total_is_exact_with_bom_and_tags_without_braces(reader: ExportReader) -> None:
    scan = reader.scan(EA_ACTUAL)
    assert scan.schema.kind is SchemaKind.EA and scan.basis is Basis.ACTUAL
    assert dict(scan.totals()) == {"USD": Decimal("8.5450077867419368")}
    assert scan.totals()["USD"] == _raw_total(EA_ACTUAL, "Cost")
    assert scan.source_rows == 11 and scan.issues == []
    records = list(scan.records())
    by_charge = {r.charge_type: r.cost for r in records if r.charge_type == "Purchase"}
    assert by_charge == {"Purchase": Decimal("3.25")}
    assert sum(1 for r in records if r.tags) == 9
    assert all("{" not in k for r in records for k in r.tags)
    assert scan.day_range() == (dt.date(2023, 9, 4), dt.date(2023, 9, 21))


def test_stored_amounts_are_each_row_to_18_decimals(reader: ExportReader) -> None:
    scan = reader.scan(EA_AMORTIZED)
    with EA_AMORTIZED.open(encoding="utf-8-sig", newline="") as fh:
        expected = sum(Decimal(row["Cost"]).quantize(Decimal("1e-18")) for row in csv.DictReader(fh))
    assert dict(scan.stored_totals()) == {"USD": expected}


def test_ea_amortized_28_decimal_places_and_case_insensitive_resource_groups(reader: ExportReader) -> None:
    scan = reader.scan(EA_AMORTIZED)
    assert scan.basis is Basis.AMORTIZED
    assert dict(scan.totals()) == {"USD": Decimal("16.29693213663664462748541900")}
    records = list(scan.records())
    ahb = [r for r in records if r.resource_group == "ahbtest"]
    assert {r.resource_group for r in ahb} == {"ahbtest"} and sum(r.cost for r in ahb) == Decimal(
        "4.09632768"
    )
    assert not any(r.resource_group and r.resource_group != r.resource_group.lower() for r in records)
    reservation = [r for r in records if r.pricing_model == "Reservation"]
    assert [r.cost for r in reservation] == [Decimal("0.493152")] and reservation[0].quantity == Decimal(8)
    assert all(r.resource_id is None or r.resource_id == r.resource_id.lower() for r in records)


def test_header_only_file_is_an_empty_dataset(reader: ExportReader) -> None:
    scan = reader.scan(EXPORTS / "finops-toolkit/EA_NoRows.csv", basis=Basis.ACTUAL)
    assert (
        scan.source_rows == 0 and dict(scan.totals()) == {} and scan.issues == [] and scan.day_range() is None
    )
    assert list(scan.records()) == []


def test_cad_file_scientific_notation_and_unpadded_dates(reader: ExportReader) -> None:
    scan = reader.scan(EA_CAD, basis=Basis.ACTUAL)
    assert dict(scan.totals()) == {"CAD": Decimal("1.26136926505726")}
    assert scan.day_range() == (dt.date(2023, 9, 2), dt.date(2023, 9, 2))
    services = {r.service_name for r in scan.records()}
    assert services == {s.lower() for s in services}  # ConsumedService comes in three casings


def test_mixed_currencies_are_kept_apart(reader: ExportReader, tmp_path: Path) -> None:
    text = EA_CAD.read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    currency, model = rows[0].index("BillingCurrencyCode"), rows[0].index("PricingModel")
    for row in rows[1:]:
        if row[model] == "Spot":
            row[currency] = "USD"
    mixed = tmp_path / "mixed_ActualCost.csv"
    with mixed.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    totals = reader.scan(mixed).totals()
    assert dict(totals) == {"CAD": Decimal("1.21310954805726"), "USD": Decimal("0.048259717")}


def test_short_rows_are_reported_with_file_and_line_and_kept(reader: ExportReader) -> None:
    path = OPENCOST / "values_Template.csv"
    scan = reader.scan(path, basis=Basis.ACTUAL, default_currency="USD")
    assert scan.source_rows == 87
    assert dict(scan.totals()) == {"USD": Decimal("16.393506212224391")}
    assert [i.line for i in scan.issues] == list(range(2, 89))
    assert all(
        i.file == str(path) and "resourcelocation" in i.reason and "kept" in i.reason for i in scan.issues
    )


def test_unreadable_cost_is_reported_with_its_line_and_the_rest_kept(
    reader: ExportReader, tmp_path: Path
) -> None:
    lines = EA_ACTUAL.read_text(encoding="utf-8-sig").splitlines()
    rows = list(csv.reader(lines))
    cost = rows[0].index("Cost")
    bad_value = rows[4][cost]
    rows[4][cost] = "n/a"
    broken = tmp_path / "broken_ActualCost.csv"
    with broken.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    scan = reader.scan(broken)
    assert [(i.line, "'n/a'" in i.reason) for i in scan.issues] == [(5, True)]
    assert scan.totals()["USD"] == Decimal("8.5450077867419368") - Decimal(bad_value)
    assert scan.source_rows == 10


def test_unreadable_quantity_is_reported_too(reader: ExportReader, tmp_path: Path) -> None:
    rows = list(csv.reader(EA_ACTUAL.read_text(encoding="utf-8-sig").splitlines()))
    rows[2][rows[0].index("Quantity")] = "12,5"
    broken = tmp_path / "qty_ActualCost.csv"
    with broken.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    scan = reader.scan(broken)
    assert [(i.line, "quantity '12,5'" in i.reason) for i in scan.issues] == [(3, True)]
    assert scan.source_rows == 10


def test_missing_brackets_tags_are_parsed(reader: ExportReader) -> None:
    scan = reader.scan(OPENCOST / "values_MissingBrackets.csv", basis=Basis.ACTUAL, default_currency="USD")
    (record,) = scan.records()
    assert set(record.tags) == {"resourceNameSuffix", "aksEngineVersion", "creationSource"}


@pytest.mark.parametrize("name", ["headersets_German.csv", "headersets_YA.csv"])
def test_localized_headers_are_refused_naming_file_and_columns(reader: ExportReader, name: str) -> None:
    with pytest.raises(SourceFormatError) as err:
        reader.scan(OPENCOST / name, basis=Basis.ACTUAL)
    message = str(err.value)
    assert name in message and "Ressourcengruppe (ResourceGroup)" in message and "English" in message


def test_camel_case_mca_and_legacy_payg_headers(reader: ExportReader) -> None:
    mca = reader.scan(OPENCOST / "headersets_EnterpriseCamel.csv", basis=Basis.ACTUAL)
    assert mca.schema.kind is SchemaKind.MCA and dict(mca.totals()) == {"USD": Decimal("0.012")}
    ea = reader.scan(OPENCOST / "headersets_Enterprise.csv", basis=Basis.ACTUAL)
    assert ea.schema.kind is SchemaKind.EA and ea.day_range() == (dt.date(2021, 2, 2), dt.date(2021, 2, 2))
    payg = reader.scan(OPENCOST / "headersets_PayAsYouGo.csv")
    assert payg.schema.kind is SchemaKind.PAYG and payg.basis is Basis.ACTUAL
    assert dict(payg.totals()) == {"USD": Decimal("0.075")}
    (record,) = payg.records()
    assert record.subscription_id == "11111111-12ab-34dc-56ef-123456abcdef" and record.quantity == Decimal(3)


def test_bom_legacy_file_reports_its_empty_row(reader: ExportReader) -> None:
    scan = reader.scan(OPENCOST / "headersets_BOM.csv")
    assert scan.schema.kind is SchemaKind.PAYG
    assert [(i.line, "no currency" in i.reason) for i in scan.issues] == [(2, True)]


def test_focus_sample_billed_and_effective_cost(reader: ExportReader) -> None:
    actual = reader.scan(FOCUS, basis=Basis.ACTUAL)
    amortized = reader.scan(FOCUS, basis=Basis.AMORTIZED)
    assert actual.schema.kind is SchemaKind.FOCUS and actual.schema.version == "1.0"
    assert dict(actual.totals()) == {"USD": Decimal("20.52022672899")}
    assert dict(amortized.totals()) == {"USD": Decimal("14.97651418586")}
    assert actual.source_rows == 1000 and actual.issues == []
    microsoft = [r for r in actual.records() if r.subscription_id == "64e355d7-997c-491d-b0c1-8414dccfcf42"]
    assert microsoft and all(r.location == "eastus" or r.location for r in microsoft)


def test_focus_file_needs_a_basis(reader: ExportReader) -> None:
    with pytest.raises(SourceFormatError, match="actual from amortized"):
        reader.scan(FOCUS)


def test_focus_spec_scenario_with_iso_timestamps(reader: ExportReader) -> None:
    path = SAMPLES / "focus/focus-spec-scenarios/commitment_discount_usage_scenario_3.csv"
    effective = reader.scan(path, basis=Basis.AMORTIZED, default_currency="USD")
    assert effective.schema.version == "1.1"
    assert dict(effective.totals()) == {"USD": Decimal("1.00")}
    assert effective.day_range() == (dt.date(2023, 1, 1), dt.date(2023, 1, 1))


def test_gzip_and_parquet_variants_give_the_same_totals(reader: ExportReader, tmp_path: Path) -> None:
    gz = tmp_path / "EA_AmortizedCost_Small.csv.gz"
    with EA_AMORTIZED.open("rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    parquet = tmp_path / "EA_AmortizedCost_Small.parquet"
    duckdb.sql(
        f"COPY (SELECT * FROM read_csv('{EA_AMORTIZED}', all_varchar = true)) TO '{parquet}' (FORMAT parquet)"
    )
    expected = reader.scan(EA_AMORTIZED).totals()
    assert reader.scan(gz).totals() == expected
    assert reader.scan(parquet).totals() == expected
    assert reader.scan(parquet).source_rows == 28


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.decimals(min_value=Decimal("-1e6"), max_value=Decimal("1e6"), places=14, allow_nan=False),
        min_size=1,
        max_size=20,
    )
)
def test_per_row_nanos_match_the_domain_rounding(values: list[Decimal]) -> None:
    rows = ["Date,MeterId,Cost,BillingCurrency"] + [f"09/01/2023,m{i},{v},USD" for i, v in enumerate(values)]
    with ExportReader() as reader, tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "p_ActualCost.csv"
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
        scan = reader.scan(path)
        got = sorted(((r.meter_id, r.cost) for r in scan.records()), key=lambda x: int(x[0][1:]))
        assert [to_nanos(c) for _, c in got] == [to_nanos(v) for v in values]
        assert scan.totals().get("USD", Decimal(0)) == sum(values, Decimal(0))


def test_half_even_ties_at_the_tenth_decimal(reader: ExportReader, tmp_path: Path) -> None:
    values = ["0.0000000005", "0.0000000015", "-0.0000000025", "0.00000000250000000001", "1.99999999950"]
    path = tmp_path / "ties_ActualCost.csv"
    path.write_text(
        "Date,MeterId,Cost,BillingCurrency\n"
        + "".join(f"2023-09-01,m{i},{v},USD\n" for i, v in enumerate(values)),
        encoding="utf-8",
    )
    got = {r.meter_id: to_nanos(r.cost) for r in reader.scan(path).records()}
    # the 20th decimal of the fourth value is rounded away at the 18th first (domain.split_nanos): a tie
    assert [got[f"m{i}"] for i in range(len(values))] == [0, 2, -2, 2, 2_000_000_000]


def test_detect_schema_names_missing_required_columns() -> None:
    with pytest.raises(SourceFormatError, match=r"x\.csv.*billing_day"):
        detect_schema(["Foo", "CostInBillingCurrency"], file="x.csv")


def _manifest(run_id: str, submitted: str, blobs: list[str], export_type: str = "ActualCost") -> bytes:
    return orjson.dumps(
        {
            "manifestVersion": "2024-04-01",
            "exportConfig": {
                "exportName": "daily",
                "type": export_type,
                "dataVersion": "2024-08-01",
                "resourceId": "/subscriptions/S1/providers/Microsoft.CostManagement/exports/daily",
            },
            "runInfo": {
                "runId": run_id,
                "submittedTime": submitted,
                "startDate": "2023-09-01T00:00:00",
                "endDate": "2023-10-01T00:00:00",
            },
            "blobs": [{"blobName": b} for b in blobs],
        }
    )


def test_manifest_fields() -> None:
    m = parse_manifest(_manifest("r1", "2023-10-02T06:00:00.1234567Z", ["costs/a.csv"]), name="manifest.json")
    assert (m.scope, m.export_name, m.run_id, m.start, m.end) == (
        "subscriptions/s1",
        "daily",
        "r1",
        dt.date(2023, 9, 1),
        dt.date(2023, 10, 1),
    )
    assert m.bases == (Basis.ACTUAL,) and m.blobs == ("costs/a.csv",)
    with pytest.raises(SourceFormatError, match=r"exportConfig\.type"):
        parse_manifest(_manifest("r", "2023-10-02T06:00:00Z", [], "PriceSheet"), name="m.json")


def test_folder_layout_keeps_the_newest_run_and_loose_files(tmp_path: Path) -> None:
    for run_id, stamp in (
        ("11111111-0000-0000-0000-000000000000", "202310010600"),
        ("22222222-0000-0000-0000-000000000000", "202310020600"),
    ):
        folder = tmp_path / "daily/20230901-20230930" / stamp / run_id
        folder.mkdir(parents=True)
        shutil.copy(EA_ACTUAL, folder / "part_0_0001.csv")
        iso = f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T06:00:00Z"
        (folder / "manifest.json").write_bytes(_manifest(run_id, iso, [f"x/{run_id}/part_0_0001.csv"]))
    shutil.copy(FOCUS, tmp_path / "focus_sample.csv")
    runs = local_runs(tmp_path)
    assert [r.manifest.run_id if r.manifest else Path(r.origin).name for r in runs] == [
        "22222222-0000-0000-0000-000000000000",
        "focus_sample.csv",
    ]
