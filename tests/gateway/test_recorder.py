"""The usage recorder: batches off the request path, a spool while the store is down, exactly-once replay."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from aifinops.domain import (
    DeploymentType,
    EventKind,
    EventStatus,
    MeterKind,
    PricedUsage,
    ProcessingTier,
    UsageEvent,
)
from aifinops.errors import StoreError
from aifinops.gateway.recorder import Recorder, event_from_json, event_to_json, spool_entry

from .conftest import ListSink

T0 = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


class FlakySink(ListSink):
    """Idempotent like the store; raises StoreError while ``down``."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.batches: list[int] = []

    def ingest_priced(self, events: Sequence[tuple[UsageEvent, PricedUsage | None]], *, source: str) -> None:
        if self.down:
            raise StoreError(
                "database error on sqlite:///x.db: OperationalError: unable to open database file"
            )
        self.batches.append(len(events))
        super().ingest_priced(events, source=source)


def _event(n: int) -> UsageEvent:
    return UsageEvent(
        event_id=f"gw-{n:06d}-1",
        ts=T0 + dt.timedelta(seconds=n),
        app="checkout",
        task_id=f"t{n}",
        deployment="gpt-4o",
        model="gpt-4o",
        model_version="2024-11-20",
        input_tokens=n,
        output_tokens=2 * n,
        deployment_type=DeploymentType.GLOBAL_STANDARD,
        kind=EventKind.CHAT,
        status=EventStatus.OK,
        attributes={"usage": "estimated"},
        latency_ms=12,
    )


async def test_events_are_written_in_batches_off_the_request_path(tmp_path: Path) -> None:
    sink = FlakySink()
    recorder = Recorder(sink, spool_path=tmp_path / "spool.jsonl", batch_size=100, flush_interval=0.05)
    await recorder.start()
    for n in range(250):
        recorder.record(_event(n))
    assert sink.events == {}  # record() never writes inline
    await recorder.stop()
    assert len(sink.events) == 250 and max(sink.batches) <= 100 and len(sink.batches) >= 3
    assert not (tmp_path / "spool.jsonl").exists()


async def test_store_outage_spools_and_replays_every_event_exactly_once(tmp_path: Path) -> None:
    sink = FlakySink()
    spool = tmp_path / "spool.jsonl"
    recorder = Recorder(sink, spool_path=spool, batch_size=50, flush_interval=0.01, retry_interval=0.05)
    await recorder.start()
    for n in range(100):
        recorder.record(_event(n))
    await asyncio.sleep(0.1)
    sink.down = True
    for n in range(100, 400):
        recorder.record(_event(n))
        if n % 50 == 0:
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)
    assert not recorder.store_available and (
        spool.exists() or spool.with_name("spool.jsonl.replaying").exists()
    )
    assert recorder.counts["spooled"] > 0
    sink.down = False
    await asyncio.sleep(0.3)
    await recorder.stop()
    assert sorted(sink.events) == sorted(_event(n).event_id for n in range(400))
    assert sum(sink.batches) >= 400  # replays may resend a batch; the store keeps one copy per event id
    assert not spool.exists() and not spool.with_name("spool.jsonl.replaying").exists()
    assert recorder.store_available and recorder.counts["replayed"] == recorder.counts["spooled"]


async def test_shutdown_while_the_store_is_down_keeps_events_in_the_spool_for_the_next_start(
    tmp_path: Path,
) -> None:
    sink = FlakySink()
    sink.down = True
    spool = tmp_path / "spool.jsonl"
    first = Recorder(sink, spool_path=spool, flush_interval=0.01)
    await first.start()
    for n in range(30):
        first.record(_event(n))
    await first.stop()
    spooled = [p for p in (spool, spool.with_name("spool.jsonl.replaying")) if p.exists()]
    assert sink.events == {} and sum(len(p.read_bytes().splitlines()) for p in spooled) == 30
    sink.down = False
    second = Recorder(sink, spool_path=spool, flush_interval=0.01)
    await second.start()
    await second.stop()
    assert sorted(sink.events) == sorted(_event(n).event_id for n in range(30))
    assert not any(p.exists() for p in spooled)


async def test_interrupted_replay_is_replayed_again_without_double_counting(tmp_path: Path) -> None:
    sink = FlakySink()
    spool = tmp_path / "spool.jsonl"
    spool.write_bytes(b"".join(event_to_json(_event(n)) + b"\n" for n in range(10)))
    sink.ingest([_event(n) for n in range(5)], source="gateway")  # half of it landed before a crash
    recorder = Recorder(sink, spool_path=spool, batch_size=4)
    await recorder.flush()
    assert sorted(sink.events) == sorted(_event(n).event_id for n in range(10))
    assert not spool.exists()


async def test_a_torn_spool_line_is_set_aside_and_the_rest_replayed(tmp_path: Path) -> None:
    sink = FlakySink()
    spool = tmp_path / "spool.jsonl"
    spool.write_bytes(event_to_json(_event(1)) + b"\n" + event_to_json(_event(2))[:40])
    recorder = Recorder(sink, spool_path=spool)
    await recorder.flush()
    assert list(sink.events) == [_event(1).event_id]
    assert (tmp_path / "spool.jsonl.rejected").read_bytes() == event_to_json(_event(2))[:40] + b"\n"
    assert recorder.counts["rejected"] == 1


async def test_a_full_queue_spills_to_the_spool_instead_of_dropping(tmp_path: Path) -> None:
    sink = FlakySink()
    spool = tmp_path / "spool.jsonl"
    recorder = Recorder(sink, spool_path=spool, queue_size=5)
    for n in range(8):
        recorder.record(_event(n))
    assert len(spool.read_bytes().splitlines()) == 3
    await recorder.flush()
    assert sorted(sink.events) == sorted(_event(n).event_id for n in range(8))


@given(
    n=st.integers(min_value=0, max_value=10**9),
    quantity=st.one_of(st.none(), st.decimals(allow_nan=False, allow_infinity=False, places=6)),
    status=st.sampled_from(EventStatus),
    tier=st.one_of(st.none(), st.sampled_from(ProcessingTier)),
)
def test_spool_lines_round_trip(
    n: int, quantity: Decimal | None, status: EventStatus, tier: ProcessingTier | None
) -> None:
    event = UsageEvent(
        event_id=f"e{n}",
        ts=T0,
        input_tokens=n,
        cache_write_tokens=n // 2,
        service_tier=tier,
        priority=tier is ProcessingTier.PRIORITY,
        quantity=quantity,
        unit="images" if quantity else None,
        status=status,
        attributes={"k": "v"},
        deployment_type=DeploymentType.STANDARD,
    )
    back = event_from_json(event_to_json(event))
    assert back == event
    assert back.service_tier is tier  # the enum itself, not its text (which compares equal)


def test_spool_lines_keep_the_estimate_the_event_was_settled_at() -> None:
    estimate = PricedUsage(Decimal("0.00472"), "USD", {MeterKind.INPUT: 7, MeterKind.OUTPUT: None})
    assert spool_entry(event_to_json(_event(3), estimate)) == (_event(3), estimate)
    unpriced = PricedUsage(None, None, {}, unpriced_reason="no input price for gpt-4o")
    assert spool_entry(event_to_json(_event(4), unpriced)) == (_event(4), unpriced)
    assert spool_entry(event_to_json(_event(5))) == (_event(5), None)  # spooled before it could be priced


async def test_replayed_events_reach_the_sink_with_their_estimate(tmp_path: Path) -> None:
    sink = FlakySink()
    sink.down = True
    recorder = Recorder(sink, spool_path=tmp_path / "spool.jsonl")
    estimate = PricedUsage(Decimal("0.5"), "USD", {})
    recorder.record(_event(1), estimate)
    await recorder.flush()
    sink.down = False
    await recorder.flush()
    assert sink.estimates == {_event(1).event_id: estimate}
