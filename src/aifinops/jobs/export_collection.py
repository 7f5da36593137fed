"""Cost exports into the store, one cycle at a time: every run is read and checked first, deliveries of the
same bill are resolved against each other, then each run replaces the slice it covers.

The rules (docs/billed-cost.md):

- **A cut file never changes the bill.** A run whose file ends mid-row, inside quotes, in a compressed stream
  that stops early, or is smaller than its manifest says, or whose rows stop before the period its manifest
  states, is not stored: the slice it would replace stays as it was, and the outcome names the file and line.
  ``accept_partial`` (``collect --accept-partial``) stores its complete rows instead, and says so.
- **A month is counted once.** Two deliveries overlap when they hold cost of the same basis for the same
  cell (billing scope, subscription, resource group, billing day) — an EA and a FOCUS file of one month, or
  one file saved twice as ``… (1).csv``. The newest complete delivery keeps its rows; the other is reported by
  name and stores none of the shared cells (with the same amounts in every cell it is "counted once", else it
  "overlaps"). Rows in cells no newer delivery holds are always kept.
- **Only the days asked for are written.** Rows billed outside ``[start, end)`` are not stored, and the
  outcome says how many were left out.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from aifinops.domain import Basis, CostRecord
from aifinops.errors import AifinopsError, ConfigError
from aifinops.jobs.collection_steps import CollectionStep, SourceOutcome
from aifinops.sources.cost_exports import Cell, ExportReader, ExportScan, basis_from_name
from aifinops.sources.export_integrity import Truncation, complete_copy, find_truncation, manifest_mismatches
from aifinops.sources.export_runs import ExportRun, local_runs
from aifinops.sources.export_schemas import ExportManifest, SchemaKind, detect_schema
from aifinops.sources.protocols import ExportRunSource

if TYPE_CHECKING:
    import pyarrow as pa

    from aifinops.jobs.collect import Collector

__all__ = ["ExportCycle"]

_DAY = dt.timedelta(days=1)


@dataclass(slots=True)
class _Delivery:
    """One run's cost on one basis, read and waiting to be stored."""

    run: ExportRun
    files: tuple[Path, ...]  # the files as delivered (``run.files`` may be copies of their complete rows)
    basis: Basis
    scan: ExportScan | None  # None: a run without data (NewDataNotAvailable), its period holds no cost
    complete: bool
    delivered: float  # when it was delivered: the manifest's submittedTime, else the newest file's mtime
    issues: list[str] = field(default_factory=list)
    #: The billing days it holds as delivered: its slice, even once an overlap or the window leaves no rows.
    days: tuple[dt.date, dt.date] | None = None

    @property
    def name(self) -> str:
        return self.run.origin

    @property
    def rank(self) -> tuple[bool, float, str]:
        """Higher wins an overlap: complete first, then the newest, then the name (a stable tie-break)."""
        return (self.complete, self.delivered, self.name)


def _delivered(run: ExportRun, files: tuple[Path, ...]) -> float:
    if run.manifest is not None and run.manifest.submitted is not None:
        return run.manifest.submitted.timestamp()
    return max((f.stat().st_mtime for f in files), default=0.0)


def _run_bases(run: ExportRun, reader: ExportReader) -> tuple[Basis, ...]:
    if run.manifest is not None:
        return run.manifest.bases
    schema = detect_schema(reader.header(run.files[0]), file=str(run.files[0]))
    if schema.kind is SchemaKind.FOCUS:
        return schema.bases
    named = Basis.ACTUAL if schema.kind is SchemaKind.PAYG else basis_from_name(run.files[0].name)
    if named is None:
        raise ConfigError(
            f"{run.files[0]}: cannot tell actual from amortized cost; put ActualCost or "
            "AmortizedCost in the file name or deliver it with its export manifest.json"
        )
    return (named,)


def _coverage_gap(manifest: ExportManifest | None, scan: ExportScan) -> str | None:
    """Rows that stop before the last day the manifest states, when it gives no byte or row counts to check.

    With counts that match, missing days simply had no cost; without them a file cut at a line end would
    look complete."""
    if manifest is None or any(size is not None or rows is not None for size, rows in manifest.blob_counts):
        return None
    days = scan.day_range()
    last = manifest.end - _DAY
    if days is not None and days[1] >= last:
        return None
    held = f"rows for {days[0]}..{days[1]}" if days else "no rows"
    return f"{scan.file}: holds {held}, its manifest says {manifest.start}..{last}: the run looks cut short"


def _slice_period(
    manifest: ExportManifest | None, days: tuple[dt.date, dt.date] | None
) -> tuple[dt.date, dt.date] | None:
    """The slice a run replaces: its manifest period, grown to cover every row it carries.

    A month-to-date run's ``runInfo`` period may end before the last day in its files; a slice that did not
    cover them would let those rows escape the next replacement and count twice.
    """
    starts = [d for d in (manifest.start if manifest else None, days[0] if days else None) if d is not None]
    ends = [d for d in (manifest.end if manifest else None, days[1] + _DAY if days else None) if d]
    return (min(starts), max(ends)) if starts and ends else None


def _days(cells: list[Cell]) -> str:
    days = sorted({c[3] for c in cells})
    return f"{len(days)} day(s) {days[0]}..{days[-1]}" if days else "no day"


class ExportCycle:
    """The exports of one collection cycle over ``[start, end)``: a read step per run, then one step that
    resolves overlapping deliveries and stores every run."""

    def __init__(self, c: Collector, start: dt.date, end: dt.date) -> None:
        self.c, self.start, self.end = c, start, end
        self.deliveries: list[_Delivery] = []
        self._spill: tempfile.TemporaryDirectory[str] | None = None
        self._reader: ExportReader | None = None

    def steps(self) -> list[CollectionStep]:
        """The cycle's steps: read each local and blob run that may hold days of the window, then store."""
        c, steps = self.c, []
        for path in c.export_paths:
            for run in local_runs(path):
                if run.manifest is None or self._in_window(run.manifest):
                    steps.append(CollectionStep("exports", run.origin, partial(self._read, run)))
        if c.blob_exports is not None:
            blobs = c.blob_exports
            for manifest in blobs.manifests():
                if self._in_window(manifest):
                    target = f"{manifest.export_name} {manifest.run_id}"
                    steps.append(CollectionStep("exports", target, partial(self._fetch, blobs, manifest)))
        if steps:
            steps.append(CollectionStep("exports", "store the runs read", self._store))
        return steps

    def _in_window(self, manifest: ExportManifest) -> bool:
        return manifest.start < self.end and self.start < manifest.end

    # --- reading ------------------------------------------------------------------------------------------
    def _open(self) -> ExportReader:
        if self._reader is None:
            self._spill = tempfile.TemporaryDirectory(prefix="aifinops-duckdb-")
            self._reader = ExportReader(temp_directory=self._spill.name)
        return self._reader

    def _fetch(self, blobs: ExportRunSource, manifest: ExportManifest) -> list[SourceOutcome]:
        return self._read(blobs.fetch(manifest))

    def _read(self, run: ExportRun) -> list[SourceOutcome]:
        """Check a run whole, scan it on each basis it holds, and keep it for the store step."""
        reader = self._open()
        delivered_files = run.files
        problems: list[Truncation | str] = [
            *(manifest_mismatches(run.manifest, run.files) if run.manifest else []),
            *(t for f in run.files if (t := find_truncation(f)) is not None),
        ]
        if problems and not self.c.accept_partial:
            return [self._refused(run, problems)]
        if problems:
            run = dataclasses.replace(run, files=tuple(self._complete(f, problems) for f in run.files))
        read: list[_Delivery] = []
        for basis in _run_bases(run, reader):
            scan = (
                reader.scan_run(run, basis=basis, default_currency=self.c.default_currency)
                if run.files
                else None
            )
            gap = _coverage_gap(run.manifest, scan) if scan is not None else None
            if gap and not self.c.accept_partial:
                for scanned in [*(d.scan for d in read), scan]:
                    if scanned is not None:
                        scanned.close()
                return [self._refused(run, [gap])]
            issues = [str(i) for i in scan.issues] if scan is not None else []
            accepted = [*problems, *([gap] if gap else [])]
            issues += [f"{p}; partial data accepted: its complete rows are stored" for p in accepted]
            delivered = _delivered(run, delivered_files)
            days = scan.day_range() if scan is not None else None
            read.append(_Delivery(run, delivered_files, basis, scan, not accepted, delivered, issues, days))
        self.deliveries += read
        return []

    def _complete(self, path: Path, problems: list[Truncation | str]) -> Path:
        assert self._spill is not None
        for p in problems:
            if isinstance(p, Truncation) and p.file == str(path) and p.complete is not None:
                return complete_copy(path, p, self._spill.name)
        return path

    @staticmethod
    def _refused(run: ExportRun, problems: list[Truncation | str]) -> SourceOutcome:
        listed = "; ".join(map(str, problems))
        return SourceOutcome(
            "exports",
            run.origin,
            None,
            None,
            None,
            error=f"not stored, the stored cost is unchanged: {listed}; fix the delivery (copy it again) "
            "or pass --accept-partial to store its complete rows",
        )

    # --- storing ------------------------------------------------------------------------------------------
    def _store(self) -> list[SourceOutcome]:
        try:
            for d in self.deliveries:
                if d.scan is not None and (outside := d.scan.drop_days_outside(self.start, self.end)):
                    last = self.end - _DAY
                    d.issues.append(
                        f"{outside} row(s) billed outside {self.start}..{last} (--from/--to) not stored"
                    )
            self._resolve_overlaps()
            return [self._write(d) for d in self.deliveries]
        finally:
            self.deliveries = []
            if self._reader is not None:
                self._reader.close()
                self._reader = None
            if self._spill is not None:
                self._spill.cleanup()
                self._spill = None

    def _resolve_overlaps(self) -> None:
        """Per basis, newest complete delivery first: each keeps the cells no higher-ranked delivery holds."""
        by_basis: dict[Basis, list[_Delivery]] = defaultdict(list)
        for d in self.deliveries:
            if d.scan is not None:
                by_basis[d.basis].append(d)
        for basis, group in by_basis.items():
            claimed: dict[Cell, tuple[_Delivery, dict[str, int]]] = {}
            for d in sorted(group, key=lambda d: d.rank, reverse=True):
                assert d.scan is not None
                cells = d.scan.cells()
                shared: dict[str, list[Cell]] = defaultdict(list)
                equal = True
                for cell, amounts in cells.items():
                    held = claimed.get(cell)
                    if held is None:
                        claimed[cell] = (d, amounts)
                    else:
                        shared[held[0].name].append(cell)
                        equal = equal and held[1] == amounts
                if shared:
                    dropped = d.scan.drop_cells([c for cs in shared.values() for c in cs])
                    whole = sum(map(len, shared.values())) == len(cells)
                    self._report(d, basis, shared, same=equal and whole, dropped=dropped)

    def _report(
        self, d: _Delivery, basis: Basis, shared: dict[str, list[Cell]], *, same: bool, dropped: int
    ) -> None:
        owners = {o.name: o for o in self.deliveries}
        for name, cells in shared.items():
            scope = sorted({str(c[0]) for c in cells})[0]
            if same:
                d.issues.append(
                    f"{d.name} holds the same {basis} cost as {name} (billing scope {scope}, "
                    f"{_days(cells)}): counted once, from {name}"
                )
                owners[name].issues.append(
                    f"the same {basis} cost was delivered again as {d.name}: counted once"
                )
            else:
                why = "newer" if owners[name].complete == d.complete else "complete"
                d.issues.append(
                    f"{d.name} overlaps {name} (billing scope {scope}, {basis}, {_days(cells)}): {name} is "
                    f"{why}, so those days come from it and {dropped} row(s) of {d.name} are not stored"
                )
                owners[name].issues.append(
                    f"overlaps {d.name} on {_days(cells)}: this delivery's rows are kept"
                )

    def _write(self, d: _Delivery) -> SourceOutcome:
        """Replace the slice of ``d`` within the window; a failure is its outcome, the others still run."""
        m = d.run.manifest
        issues = tuple(d.issues)
        period = _slice_period(m, d.days)
        if period is not None:
            period = (max(period[0], self.start), min(period[1], self.end))
        if period is None or period[0] >= period[1]:  # nothing of the window: the store is left alone
            return SourceOutcome("exports", d.name, d.basis, None, None, issues=issues)
        detail: dict[str, object] = {
            "files": [str(f) for f in d.files],
            "run_id": m.run_id if m else None,
            "issues": len(issues),
        }
        rows: list[CostRecord] | pa.RecordBatchReader = []
        if d.scan is not None:
            detail["schema"] = f"{d.scan.schema.kind}:{d.scan.schema.version}"
            detail["file_totals"] = {k: str(v) for k, v in d.scan.totals().items()}
            rows = d.scan.batches()
        source = f"export:{m.export_name}"[:64] if m else "file"
        scope = m.scope if m else str(d.files[0].resolve())
        try:
            summary = self.c.costs.replace_slice(source, scope, d.basis, *period, rows, detail=detail)
        except AifinopsError as exc:
            return SourceOutcome("exports", d.name, d.basis, *period, issues=issues, error=str(exc))
        finally:
            if d.scan is not None:
                d.scan.close()
        return SourceOutcome("exports", d.name, d.basis, *period, summary.records, summary.totals, issues)
