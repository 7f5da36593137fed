"""Where export runs are found: a local folder of runs (by their ``manifest.json``) or loose cost files, and
runs in an Azure Blob Storage container, downloaded as they are needed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.core.exceptions import AzureError

from aifinops.errors import SourceAuthError, SourceError, SourceFormatError
from aifinops.sources.export_schemas import ExportManifest, parse_manifest

__all__ = ["BlobExports", "ExportRun", "local_runs"]

_DATA_SUFFIXES = (".csv", ".csv.gz", ".gz", ".parquet")


@dataclass(frozen=True, slots=True)
class ExportRun:
    """One export run ready to read: its manifest (None for a loose file) and its files on local disk."""

    manifest: ExportManifest | None
    files: tuple[Path, ...]
    origin: str  # the manifest or file it came from, for messages and checkpoints


def _latest(runs: list[ExportRun]) -> list[ExportRun]:
    """Keep the newest run per export and period: a month-to-date run supersedes the earlier ones."""
    best: dict[tuple[Any, ...], ExportRun] = {}
    for run in runs:
        m = run.manifest
        key = (m.scope, m.export_name, m.export_type, m.start) if m else (run.origin,)
        held = best.get(key)
        if held is None or (
            m
            and held.manifest
            and (m.submitted or dt.datetime.min.replace(tzinfo=dt.UTC))
            > (held.manifest.submitted or dt.datetime.min.replace(tzinfo=dt.UTC))
        ):
            best[key] = run
    return sorted(best.values(), key=lambda r: r.origin)


def local_runs(root: str | Path) -> list[ExportRun]:
    """The export runs under a folder (by their ``manifest.json``) plus loose cost files; or one file.

    Data files sit beside their manifest (``{export}/{yyyyMMdd-yyyyMMdd}/{time}/{runId}/``); the manifest's
    ``blobName`` is container-relative, so only its last segment is looked up locally.
    """
    root = Path(root)
    if root.is_file():
        return [ExportRun(None, (root,), str(root))]
    if not root.is_dir():
        raise SourceFormatError(
            f"export path {root} is neither a file nor a folder; fix the path in export_paths"
        )
    runs: list[ExportRun] = []
    claimed: set[Path] = set()
    for path in sorted(root.rglob("manifest.json")):
        manifest = parse_manifest(path.read_bytes(), name=str(path))
        files = tuple(path.parent / name.rsplit("/", 1)[-1] for name in manifest.blobs)
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise SourceFormatError(
                f"{path}: lists files that are not there: {missing[:5]}; copy the whole run folder"
            )
        claimed.update(files)
        runs.append(ExportRun(manifest, files, str(path)))
    loose = [
        p
        for p in sorted(root.rglob("*"))
        if p.is_file() and p not in claimed and p.name.lower().endswith(_DATA_SUFFIXES)
    ]
    runs.extend(ExportRun(None, (p,), str(p)) for p in loose)
    return _latest(runs)


class BlobExports:
    """Export runs in an Azure Blob Storage container (azure-storage-blob ``ContainerClient``), downloaded
    to a local folder as they are needed, streamed to disk rather than held in memory."""

    def __init__(self, container: Any, download_dir: str | Path, *, prefix: str = "") -> None:
        self.container = container
        self.download_dir = Path(download_dir)
        self.prefix = prefix

    @property
    def url(self) -> str:
        return str(getattr(self.container, "url", "blob container"))

    def manifests(self) -> list[ExportManifest]:
        """Every run's manifest under the prefix (the newest per export and period)."""
        runs = []
        try:
            for blob in self.container.list_blobs(name_starts_with=self.prefix or None):
                if blob.name == "manifest.json" or blob.name.endswith("/manifest.json"):
                    payload = self.container.download_blob(blob.name).readall()
                    runs.append(ExportRun(parse_manifest(payload, name=blob.name), (), blob.name))
        except AzureError as exc:
            raise _blob_error(self.url, self.prefix, exc) from exc
        return [r.manifest for r in _latest(runs) if r.manifest is not None]

    def fetch(self, manifest: ExportManifest) -> ExportRun:
        """Download the run's data blobs (each streamed to its own file)."""
        folder = self.download_dir / (manifest.run_id or manifest.export_name)
        folder.mkdir(parents=True, exist_ok=True)
        files = []
        for name in manifest.blobs:
            target = folder / name.rsplit("/", 1)[-1]
            try:
                with target.open("wb") as fh:
                    self.container.download_blob(name).readinto(fh)
            except AzureError as exc:
                raise _blob_error(self.url, name, exc) from exc
            files.append(target)
        first = manifest.blobs[0] if manifest.blobs else manifest.export_name
        return ExportRun(manifest, tuple(files), f"{self.url}/{first}")


def _blob_error(url: str, name: str, exc: AzureError) -> SourceError:
    status = getattr(exc, "status_code", None)
    if status in (401, 403):
        return SourceAuthError(
            f"blob storage {url} refused reading {name!r} (HTTP {status}); grant the "
            "collector identity 'Storage Blob Data Reader' on the export container"
        )
    return SourceError(f"blob storage {url}: cannot read {name!r}: {exc.__class__.__name__}: {exc}")
