"""Cost Management export runs written into the emulated storage, laid out as the service writes them.

Layout and manifest: reference/cost-management.md §4.1–4.2 —
``{root}/{exportName}/{yyyyMMdd-yyyyMMdd}/{yyyyMMddHHmm}/{runId}/part_0_000N.csv`` plus ``manifest.json``.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import gzip
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass

from aifinops.emulator.state import EmulatedBlob, EmulatorState

__all__ = ["ExportRun", "put_export_run"]


@dataclass(frozen=True, slots=True)
class ExportRun:
    """Where one export run lands and what it says about itself."""

    account: str
    container: str
    root_folder: str
    export_name: str
    export_type: str  # ActualCost, AmortizedCost, FocusCost...
    scope: str  # e.g. /subscriptions/{id}
    month: dt.date  # any day of the month the run covers
    submitted: dt.datetime
    run_id: str
    data_version: str = "1.2"
    compress: bool = False


def put_export_run(state: EmulatorState, run: ExportRun, parts: Sequence[bytes]) -> str:
    """Store the CSV ``parts`` and, last (as the service does), ``manifest.json``; return the run folder."""
    first = run.month.replace(day=1)
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    folder = "/".join(
        (
            run.root_folder.strip("/"),
            run.export_name,
            f"{first:%Y%m%d}-{last:%Y%m%d}",
            f"{run.submitted:%Y%m%d%H%M}",
            run.run_id,
        )
    )
    blobs: list[dict[str, str | int]] = []
    sizes: list[tuple[int, int]] = []  # (bytes, data rows) per part
    scope = run.scope.rstrip("/")
    for number, content in enumerate(parts, start=1):
        name = f"{folder}/part_0_{number:04d}.csv" + (".gz" if run.compress else "")
        stored = gzip.compress(content) if run.compress else content
        state.put_blob(run.account, run.container, name, EmulatedBlob(stored, "text/csv"))
        sizes.append((len(stored), _data_rows(content)))
        blobs.append({"blobName": name, "byteCount": sizes[-1][0], "dataRowCount": sizes[-1][1]})
    manifest = {
        "manifestVersion": "2024-04-01",
        "byteCount": sum(size for size, _ in sizes),
        "blobCount": len(blobs),
        "dataRowCount": sum(rows for _, rows in sizes),
        "exportConfig": {
            "exportName": run.export_name,
            "resourceId": f"{scope}/providers/Microsoft.CostManagement/exports/{run.export_name}",
            "dataVersion": run.data_version,
            "apiVersion": "2023-07-01-preview",
            "type": run.export_type,
            "timeFrame": "MonthToDate",
            "granularity": "Daily",
        },
        "deliveryConfig": {
            "partitionData": True,
            "dataOverwriteBehavior": "OverwritePreviousReport",
            "fileFormat": "Csv",
            "compressionMode": "Gzip" if run.compress else "None",
            "containerUri": run.container,
            "rootFolderPath": run.root_folder,
        },
        "runInfo": {
            "executionType": "Scheduled",
            "submittedTime": run.submitted.strftime("%Y-%m-%dT%H:%M:%S.%f0Z"),
            "runId": run.run_id,
            "startDate": f"{first:%Y-%m-%d}T00:00:00",
            "endDate": f"{last:%Y-%m-%d}T00:00:00",
        },
        "blobs": blobs,
    }
    state.put_blob(
        run.account,
        run.container,
        f"{folder}/manifest.json",
        EmulatedBlob(json.dumps(manifest, indent=2).encode(), "application/json"),
    )
    return folder


def _data_rows(content: bytes) -> int:
    # Quoted fields may hold newlines, so count records with the csv module rather than lines.
    return max(sum(1 for _ in csv.reader(io.StringIO(content.decode("utf-8-sig")))) - 1, 0)
