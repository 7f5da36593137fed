"""Usage recording off the request path: batched writes, an append-only spool while the store is down, replay.

Events arrive priced (the estimate the gateway settled its limits with) and are stored with that estimate.
Every event reaches the store exactly once: the store ingests idempotently on ``event_id``, the spool is
replayed from a file that is only deleted after every line in it was accepted, and a replay interrupted
halfway is simply replayed again (duplicates are recognised by event id, never counted twice).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, Protocol

import orjson

from aifinops.domain import (
    DeploymentType,
    EventKind,
    EventStatus,
    MeterKind,
    PricedUsage,
    ProcessingTier,
    UsageEvent,
)
from aifinops.jobs.ingest import PricedEvent

__all__ = ["EventSink", "Recorder", "event_from_json", "event_to_json", "spool_entry"]

_ENUMS: Mapping[str, Any] = {
    "deployment_type": DeploymentType,
    "kind": EventKind,
    "status": EventStatus,
    "service_tier": ProcessingTier,
}
_FIELDS = frozenset(f.name for f in dataclasses.fields(UsageEvent))


class EventSink(Protocol):
    """What the recorder writes to: ``aifinops.jobs.ingest.Ingestor`` (sync, idempotent on event_id, raising
    ``aifinops.errors.StoreError`` when the database is down)."""

    def ingest_priced(self, events: Sequence[PricedEvent], *, source: str) -> object: ...


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def event_to_json(event: UsageEvent, priced: PricedUsage | None = None) -> bytes:
    """One spool line (without the newline): the event's fields, and its estimate under ``priced``."""
    line = orjson.dumps(event, default=_default)
    if priced is None:
        return line
    estimate = {
        "cost": priced.cost,
        "currency": priced.currency,
        "price_ids": {kind.value: price_id for kind, price_id in priced.price_ids.items()},
        "unpriced_reason": priced.unpriced_reason,
    }
    return line[:-1] + b',"priced":' + orjson.dumps(estimate, default=_default) + b"}"


def event_from_json(line: bytes) -> UsageEvent:
    """Parse one spool line back into a UsageEvent; raises ValueError naming the problem."""
    return spool_entry(line)[0]


def spool_entry(line: bytes) -> PricedEvent:
    """Parse one spool line back into the event and its estimate (None in lines spooled without one)."""
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if not isinstance(raw, dict) or not raw.get("event_id"):
        raise ValueError("not an event object with an event_id")
    data = {k: v for k, v in raw.items() if k in _FIELDS}
    data["ts"] = dt.datetime.fromisoformat(data["ts"])
    for name, enum in _ENUMS.items():
        if data.get(name) is not None:
            data[name] = enum(data[name])
    if data.get("quantity") is not None:
        data["quantity"] = Decimal(data["quantity"])
    if "attributes" in data:
        data["attributes"] = dict(data["attributes"] or {})
    estimate = raw.get("priced")
    if not isinstance(estimate, dict):
        return UsageEvent(**data), None
    priced = PricedUsage(
        Decimal(estimate["cost"]) if estimate.get("cost") is not None else None,
        estimate.get("currency"),
        {MeterKind(kind): price_id for kind, price_id in (estimate.get("price_ids") or {}).items()},
        estimate.get("unpriced_reason"),
    )
    return UsageEvent(**data), priced


class Recorder:
    """Queue events from the request path; one background task writes them in batches.

    Args:
        sink: the store's ingest object.
        spool_path: append-only JSON-lines file used while the store is down.
        fsync: ``"always"`` syncs the spool after every batch written to it; ``"never"`` leaves it to the OS.
    """

    def __init__(
        self,
        sink: EventSink,
        *,
        spool_path: str | Path,
        source: str = "gateway",
        batch_size: int = 500,
        flush_interval: float = 0.2,
        queue_size: int = 100_000,
        retry_interval: float = 1.0,
        fsync: Literal["always", "never"] = "always",
    ) -> None:
        self._sink = sink
        self._spool = Path(spool_path)
        self._replaying = self._spool.with_name(self._spool.name + ".replaying")
        self._rejected = self._spool.with_name(self._spool.name + ".rejected")
        self._source = source
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._retry_interval = retry_interval
        self._fsync = fsync == "always"
        self._queue: asyncio.Queue[PricedEvent] = asyncio.Queue(maxsize=queue_size)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._store_down_since: float | None = None
        self._last_probe = 0.0
        self.counts = {
            "recorded": 0,
            "ingested": 0,
            "spooled": 0,
            "replayed": 0,
            "store_errors": 0,
            "rejected": 0,
        }
        self.last_error: str | None = None

    def record(self, event: UsageEvent, priced: PricedUsage | None = None) -> None:
        """Hand one event (with its estimate, when priced) over; never blocks on the store."""
        self.counts["recorded"] += 1
        try:
            self._queue.put_nowait((event, priced))
        except asyncio.QueueFull:
            # Durability beats latency on this rare path: the event goes straight to the spool file.
            self._append_spool([(event, priced)])

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    @property
    def store_available(self) -> bool:
        return self._store_down_since is None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="aifinops-recorder")

    async def stop(self) -> None:
        """Write everything still queued (to the store, or to the spool when it is down), then end."""
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            # Not cancelled: a batch handed to the store must finish, or we would not know its fate.
            await task
        await self.flush()

    async def flush(self) -> None:
        """Write what is queued now, then replay the spool once; for tests and orderly shutdowns."""
        while batch := self._drain(self._batch_size):
            await self._write(batch)
        if self._has_spool():
            await self._replay()

    async def _run(self) -> None:
        while True:
            batch = await self._collect()
            if batch:
                await self._write(batch)
            if self._has_spool() and self._due_for_replay():
                await self._replay()
            if self._stopping and self._queue.empty():
                return

    async def _collect(self) -> list[PricedEvent]:
        try:
            first = await asyncio.wait_for(self._queue.get(), timeout=self._flush_interval)
        except TimeoutError:
            return []
        batch = [first]
        deadline = time.monotonic() + self._flush_interval
        while len(batch) < self._batch_size:
            batch.extend(self._drain(self._batch_size - len(batch)))
            remaining = deadline - time.monotonic()
            if len(batch) >= self._batch_size or remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), timeout=remaining))
            except TimeoutError:
                break
        return batch

    def _drain(self, limit: int) -> list[PricedEvent]:
        out: list[PricedEvent] = []
        while len(out) < limit:
            try:
                out.append(self._queue.get_nowait())
            except asyncio.QueueEmpty:
                break
        return out

    def _due_for_replay(self) -> bool:
        return self.store_available or time.monotonic() - self._last_probe >= self._retry_interval

    async def _write(self, batch: list[PricedEvent]) -> None:
        if not self.store_available and not self._due_for_replay():
            await asyncio.to_thread(self._append_spool, batch)
            return
        try:
            await asyncio.to_thread(self._sink.ingest_priced, batch, source=self._source)
        except Exception as exc:  # StoreError, or any bug below: the batch is spooled, never dropped
            self._mark_down(exc)
            await asyncio.to_thread(self._append_spool, batch)
            return
        self._store_down_since = None
        self.counts["ingested"] += len(batch)

    def _mark_down(self, exc: Exception) -> None:
        self.counts["store_errors"] += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        self._last_probe = time.monotonic()
        if self._store_down_since is None:
            self._store_down_since = self._last_probe

    def _has_spool(self) -> bool:
        return self._replaying.exists() or self._spool.exists()

    def _append_spool(self, events: Sequence[PricedEvent]) -> None:
        payload = b"".join(event_to_json(event, priced) + b"\n" for event, priced in events)
        fd = os.open(self._spool, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, payload)
            if self._fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        self.counts["spooled"] += len(events)

    async def _replay(self) -> None:
        """Ingest the spool; the file goes away only once all of it was accepted."""
        self._last_probe = time.monotonic()
        if not self._replaying.exists():
            # Atomic: events spooled from now on start a fresh file that the next replay picks up.
            self._spool.rename(self._replaying)
        events = await asyncio.to_thread(self._read_replaying)
        for start in range(0, len(events), self._batch_size):
            chunk = events[start : start + self._batch_size]
            try:
                await asyncio.to_thread(self._sink.ingest_priced, chunk, source=self._source)
            except Exception as exc:  # the file stays and is replayed again later
                self._mark_down(exc)
                return
        self._replaying.unlink()
        self._store_down_since = None
        self.counts["replayed"] += len(events)

    def _read_replaying(self) -> list[PricedEvent]:
        events: list[PricedEvent] = []
        bad: list[bytes] = []
        with self._replaying.open("rb") as handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    events.append(spool_entry(line))
                except (ValueError, TypeError, KeyError):
                    bad.append(line if line.endswith(b"\n") else line + b"\n")
        if bad:
            # A torn last line after a crash must not block the rest; it is kept aside for inspection.
            with self._rejected.open("ab") as out:
                out.write(b"".join(bad))
            self.counts["rejected"] += len(bad)
        return events
