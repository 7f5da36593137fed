"""A collection cycle's parts: a source (a row of ``collection_sources.SOURCES``), its steps, outcomes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aifinops.domain import Basis, Money

if TYPE_CHECKING:
    from aifinops.jobs.collect import Collector

__all__ = ["CollectionSource", "CollectionStep", "SourceOutcome"]


@dataclass(frozen=True, slots=True)
class SourceOutcome:
    """What one step did: the slice it replaced, rows written, totals per currency, or the error."""

    source: str
    target: str
    basis: Basis | None
    start: dt.date | dt.datetime | None
    end: dt.date | dt.datetime | None
    records: int = 0
    totals: Mapping[str, Money] = field(default_factory=dict)
    issues: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True, slots=True)
class CollectionStep:
    """One unit of work of a cycle, planned before it runs so a progress bar knows the total."""

    source: str
    target: str
    action: Callable[[], list[SourceOutcome]]


@dataclass(frozen=True, slots=True)
class CollectionSource:
    """One Azure source: its name, the setting that configures it, its default interval between scheduled
    runs, whether a collector has what it needs for it, and the steps it plans over ``[start, end)``."""

    name: str
    setting: str
    interval_seconds: int
    configured: Callable[[Collector], bool]
    steps: Callable[[Collector, dt.date, dt.date], list[CollectionStep]]
