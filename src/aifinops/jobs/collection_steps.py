"""The vocabulary of a collection cycle: a planned step, and what one step did."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from aifinops.domain import Basis, Money

__all__ = ["CollectionStep", "SourceOutcome"]


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
