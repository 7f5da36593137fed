"""Whether an export file arrived whole: cut rows, open quotes, short gzip streams and manifest counts."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aifinops.sources.export_integrity import complete_copy, find_truncation, manifest_mismatches
from aifinops.sources.export_schemas import parse_manifest
from tests import export_files
from tests.factories import SAMPLES_DIR

TEXT = export_files.ea_csv()
LINES = TEXT.split("\n")


@pytest.mark.parametrize("path", sorted(SAMPLES_DIR.glob("**/*.csv")), ids=lambda p: p.name)
def test_every_sample_file_is_whole(path: Path) -> None:
    assert find_truncation(path) is None  # some end without a line end, with a whole last row


def test_a_row_cut_mid_way_is_named_by_line_and_its_complete_rows_can_be_kept(tmp_path: Path) -> None:
    path = export_files.write(tmp_path, "cut.csv", "\n".join(LINES[:40]) + "\n" + LINES[40][:60])
    cut = find_truncation(path)
    assert cut is not None and (cut.file, cut.line) == (str(path), 41) and "6 of 25 fields" in cut.reason
    copy = complete_copy(path, cut, tmp_path)
    assert copy.read_text() == "\n".join(LINES[:40]) + "\n"


def test_an_open_quote_at_the_end_is_a_cut_file(tmp_path: Path) -> None:
    row = LINES[40]
    path = export_files.write(tmp_path, "q.csv", "\n".join(LINES[:40]) + "\n" + row[: row.index('"team') + 5])
    cut = find_truncation(path)
    assert cut is not None and cut.line == 41 and "open quote" in cut.reason


def test_a_gzip_stream_that_ends_early_is_cut_and_several_members_are_whole(tmp_path: Path) -> None:
    data = gzip.compress(TEXT.encode())
    (tmp_path / "ok.csv.gz").write_bytes(
        gzip.compress(TEXT[:2000].encode()) + gzip.compress(TEXT[2000:].encode())
    )
    assert find_truncation(tmp_path / "ok.csv.gz") is None
    (tmp_path / "cut.csv.gz").write_bytes(data[: len(data) // 2])
    cut = find_truncation(tmp_path / "cut.csv.gz")
    assert cut is not None and "compressed data ends early" in cut.reason
    kept = complete_copy(tmp_path / "cut.csv.gz", cut, tmp_path).read_text()
    assert kept.endswith("\n") and TEXT.startswith(kept) and kept.count("\n") == cut.line - 1


def test_manifest_counts_catch_a_file_cut_at_a_line_end(tmp_path: Path) -> None:
    path = export_files.write(tmp_path, "part_0_0001.csv", "\n".join(LINES[:30]) + "\n")
    assert find_truncation(path) is None  # nothing in the bytes shows it
    manifest = parse_manifest(
        b'{"exportConfig": {"type": "ActualCost", "resourceId": "/subscriptions/s/providers/'
        b'Microsoft.CostManagement/exports/e"}, "runInfo": {"startDate": "2026-10-01T00:00:00", '
        b'"endDate": "2026-11-01T00:00:00"}, "blobs": [{"blobName": "x/part_0_0001.csv", '
        b'"dataRowCount": 64}, {"blobName": "x/part_0_0002.csv", "byteCount": 10}]}',
        name="manifest.json",
    )
    other = export_files.write(tmp_path, "part_0_0002.csv", "0123456789")
    (problem,) = manifest_mismatches(manifest, [path, other])
    assert problem.file == str(path) and "29 data rows, its manifest says 64" in problem.reason


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=len(LINES[0]) + 1, max_value=len(TEXT) - 1))
def test_any_cut_is_found_at_its_line_or_leaves_whole_looking_rows(cut_at: int) -> None:
    import tempfile

    text = TEXT[:cut_at]
    with tempfile.TemporaryDirectory() as folder:
        path = export_files.write(Path(folder), "f.csv", text)
        found = find_truncation(path)
        start = text.rfind("\n") + 1
        if found is None:  # cut at a line end, or inside the last field of a row: nothing shows
            last = next(csv.reader(io.StringIO(text[start:])), [])
            assert text.endswith("\n") or len(last) == len(LINES[0].split(","))
        else:
            assert (found.line, found.complete) == (text.count("\n") + 1, start)
            assert complete_copy(path, found, folder).read_text() == text[:start]
