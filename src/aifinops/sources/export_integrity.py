"""Whether an export file arrived whole: a cut last row, an open quote, a compressed stream that ends early,
or a size other than its manifest states.

A cost file that was cut (an interrupted download or copy, a full disk) still parses: it simply lacks its
last rows, and storing it would replace a complete month with less. The checks here read the file once as
bytes (quotes, line ends, the last rows) and never trust its content; the collector refuses a cut file unless
the user accepts partial data, and then stores only its complete rows (:func:`complete_copy`).

A file cut exactly at a line end cannot be told from a complete one by its content: an export delivered
with its ``manifest.json`` is checked against the manifest's ``byteCount`` / ``dataRowCount`` as well.
"""

from __future__ import annotations

import csv
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from aifinops.sources.export_schemas import ExportManifest

__all__ = ["Truncation", "complete_copy", "find_truncation", "manifest_mismatches"]

_CHUNK = 1 << 20
_TAIL = 1 << 20  # the last rows are looked for in the last MiB
_CUT_STREAM = (
    "the compressed data ends early (an interrupted download or copy): the rows after it are missing"
)


@dataclass(frozen=True, slots=True)
class Truncation:
    """A file that ends early: where (file, line) and why; ``complete`` is how many bytes of its
    (decompressed) text hold whole rows, or None when the complete rows cannot be told apart."""

    file: str
    line: int | None
    reason: str
    complete: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}" if self.line else f"{self.file}: {self.reason}"


@dataclass(slots=True)
class _Tally:
    """What one pass over the bytes saw."""

    size: int = 0
    newlines: int = 0
    quotes: int = 0
    tail: bytes = b""
    cut_stream: bool = False
    header: bytes = b""


def _chunks(path: Path, tally: _Tally) -> Iterator[bytes]:
    """The file's text in chunks, decompressed for ``.gz`` (``tally.cut_stream`` set when the stream ends
    early: every byte before the cut is still yielded)."""
    with path.open("rb") as fh:
        raw = iter(lambda: fh.read(_CHUNK), b"")
        if not path.name.lower().endswith(".gz"):
            yield from raw
            return
        stream = zlib.decompressobj(wbits=31)
        try:
            for block in raw:
                while block:
                    if stream.eof:  # a file of several gzip members
                        stream = zlib.decompressobj(wbits=31)
                    yield stream.decompress(block)
                    block = stream.unused_data if stream.eof else b""
        except zlib.error:
            tally.cut_stream = True
            return
        tally.cut_stream = not stream.eof


def _tally(path: Path) -> _Tally:
    tally = _Tally()
    for chunk in _chunks(path, tally):
        if not tally.header:
            tally.header = chunk.split(b"\n", 1)[0]
        tally.size += len(chunk)
        tally.newlines += chunk.count(b"\n")
        tally.quotes += chunk.count(b'"')
        tally.tail = (tally.tail + chunk)[-_TAIL:]
    return tally


def _row_starts(tally: _Tally) -> list[int]:
    """Offsets (in the whole text) where a row starts, within the tail: line ends outside quotes."""
    base = tally.size - len(tally.tail)
    inside = (tally.quotes - tally.tail.count(b'"')) % 2 == 1
    starts = []
    for i, byte in enumerate(tally.tail):
        if byte == 0x22:  # '"': an escaped quote ("") flips twice
            inside = not inside
        elif byte == 0x0A and not inside:
            starts.append(base + i + 1)
    return starts


def _fields(row: bytes) -> int:
    text = row.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r\n")
    return len(next(csv.reader([text]), [])) if text else 0


def find_truncation(path: str | Path) -> Truncation | None:
    """The truncation of one CSV or CSV.gz cost file, or None when it ends as a whole file does.

    A last row without its line end counts as cut when it has fewer fields than the row before it (or the
    header); a file that ends inside quotes, or a gzip stream without its end, is cut whatever its last row.
    Parquet files are not looked at: a cut one has no footer and cannot be read at all.
    """
    path = Path(path)
    if path.name.lower().endswith(".parquet"):
        return None
    tally = _tally(path)
    whole_rows = tally.tail.endswith(b"\n") and tally.quotes % 2 == 0
    if tally.size == 0 or (whole_rows and not tally.cut_stream):
        return None
    if whole_rows:  # a compressed stream cut right after a row: every row read is whole
        return Truncation(str(path), tally.newlines + 1, _CUT_STREAM, tally.size)
    base = tally.size - len(tally.tail)
    starts = _row_starts(tally)
    last = starts[-1] if starts else None
    line = tally.newlines + 1 - (tally.tail[last - base :].count(b"\n") if last is not None else 0)
    if tally.cut_stream:
        reason = _CUT_STREAM
    elif tally.quotes % 2 == 1:
        reason = "the file ends inside a quoted field (an open quote): the last row is cut off"
    else:
        expected = _fields(_previous_row(tally, starts)) or _fields(tally.header)
        got = _fields(tally.tail[last - base :] if last is not None else tally.tail)
        if got >= expected:
            return None  # a whole last row written without a line end
        reason = f"the last row has {got} of {expected} fields and no line end: it is cut off"
    return Truncation(str(path), line, reason, last)


def _previous_row(tally: _Tally, starts: Sequence[int]) -> bytes:
    if len(starts) < 2:
        return b""
    base = tally.size - len(tally.tail)
    return tally.tail[starts[-2] - base : starts[-1] - base]


def complete_copy(path: str | Path, truncation: Truncation, folder: str | Path) -> Path:
    """A copy of ``path``'s complete rows (uncompressed) in ``folder``, when partial data is accepted."""
    if truncation.complete is None:
        raise ValueError(f"{truncation}: the complete rows cannot be told apart")
    source = Path(path)
    name = source.name[:-3] if source.name.lower().endswith(".gz") else source.name
    target = Path(folder) / f"complete-{name}"
    left = truncation.complete
    with target.open("wb") as out:
        tally = _Tally()
        for chunk in _chunks(source, tally):
            out.write(chunk[:left])
            left -= min(left, len(chunk))
            if not left:
                break
    return target


def manifest_mismatches(manifest: ExportManifest, files: Sequence[Path]) -> list[Truncation]:
    """Files whose size (``byteCount``) or data rows (``dataRowCount``) differ from what the manifest states.

    Rows are counted as line ends (minus the header): cost exports hold no line breaks inside fields.
    """
    out = []
    for name, path, (size, rows) in zip(manifest.blobs, files, manifest.blob_counts, strict=False):
        if size is not None and path.stat().st_size != size:
            out.append(
                Truncation(
                    str(path), None, f"has {path.stat().st_size} bytes, its manifest says {size} for {name}"
                )
            )
        elif size is None and rows is not None:
            tally = _tally(path)
            found = max(tally.newlines + (not tally.tail.endswith(b"\n") and tally.size > 0) - 1, 0)
            if found != rows:
                out.append(Truncation(str(path), None, f"has {found} data rows, its manifest says {rows}"))
    return out
