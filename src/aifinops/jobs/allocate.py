"""Allocating a period: drivers, records, the engine and the saved result, timed.

The usage drivers are read in the background while the cost records are read; the engine allocates; the
result replaces the stored one of every day of the period.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Sequence

from aifinops.domain import Basis, CostRecord
from aifinops.engine.allocation import AllocationResult, AllocationRule, allocate
from aifinops.errors import ValidationError
from aifinops.queries.gc_pause import gc_paused_for_bulk_objects
from aifinops.store.allocation_queries import read_rules
from aifinops.store.allocations import AllocationStore
from aifinops.store.cost_queries import read_cost_records
from aifinops.store.driver_queries import BACKGROUND_ROWS, start_driver_read
from aifinops.store.store import Store

__all__ = ["allocate_period", "allocate_recent", "recent_months"]

_PHASES = ("records", "drivers", "engine", "save")


def allocate_period(
    store: Store,
    start: dt.date,
    end: dt.date,
    *,
    basis: Basis,
    dimensions: Sequence[str],
    records: Iterable[CostRecord],
    rules: Sequence[AllocationRule] | None = None,
    clock: Callable[[], dt.datetime] | None = None,
    timings: dict[str, float] | None = None,
    background_rows: int = BACKGROUND_ROWS,
) -> AllocationResult:
    """Allocate ``records`` of ``[start, end)`` by ``rules`` (default: the stored ones) and replace the
    stored results of every day in it.

    ``timings``, when given, receives the seconds of each phase: reading the records (the drivers are
    computed meanwhile), waiting for and reading the drivers, the engine, and saving. ``background_rows``:
    from this many rollup rows in the period, part of the drivers is read in the background
    (:mod:`aifinops.store.driver_queries`).
    """
    if basis not in (Basis.ACTUAL, Basis.AMORTIZED):
        raise ValidationError(
            f"allocation runs on actual or amortized cost, got {basis.value!r}", field="basis"
        )
    allocations = AllocationStore(store, clock=clock)
    chosen = read_rules(store) if rules is None else list(rules)
    marks = [time.perf_counter()]
    # The database computes the drivers while the records (often a lazy iterator over the store) are
    # read; both build as many objects as the rest of the run, so the collector waits.
    with gc_paused_for_bulk_objects():
        allocations.refresh_deployments()
        reading = start_driver_read(
            store, start, end, dimensions=dimensions, rules=chosen, background_rows=background_rows
        )
        try:
            kept = [r for r in records if start <= r.billing_day < end and r.basis is basis]
        except BaseException:
            reading.cancel()
            raise
        marks.append(time.perf_counter())
        drivers = reading.drivers()
        marks.append(time.perf_counter())
        try:
            result = allocate(kept, chosen, drivers.all, dimensions=dimensions, filtered=drivers.filtered)
        except ValueError as exc:
            raise ValidationError(str(exc), field="dimensions") from exc
        marks.append(time.perf_counter())
        days = [start + dt.timedelta(days=i) for i in range((end - start).days)]
        allocations.save(result, basis=basis, days=days, rules=chosen)
        marks.append(time.perf_counter())
    if timings is not None:
        timings.update({name: marks[i + 1] - marks[i] for i, name in enumerate(_PHASES)})
    return result


def recent_months(today: dt.date) -> list[tuple[dt.date, dt.date]]:
    """The billing months serve keeps allocated: the previous one (its bill is corrected for days after it
    ends) and the running one, each as ``[first day, first day of the next)``."""
    first = today.replace(day=1)
    previous = (first - dt.timedelta(days=1)).replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return [(previous, first), (first, following)]


def allocate_recent(
    store: Store, *, dimensions: Sequence[str], now: dt.datetime
) -> list[tuple[dt.date, Basis, int]]:
    """One scheduled round of allocation (serve's ``allocate`` job): each recent month with billed cost
    records is allocated again on each billed basis, over ``dimensions``, by the stored rules; a month or
    basis without cost records is left as it is. Returns (month, basis, records allocated) per run."""
    done: list[tuple[dt.date, Basis, int]] = []
    for start, end in recent_months(now.astimezone(dt.UTC).date()):
        for basis in (Basis.ACTUAL, Basis.AMORTIZED):
            records = list(read_cost_records(store, start, end, basis=basis))
            if records:
                allocate_period(store, start, end, basis=basis, dimensions=dimensions, records=records)
                done.append((start, basis, len(records)))
    return done
