"""Where a budget's daily spend came from, day by day, summarised for people and alerts (pure).

A budget over everything spends the whole bill. A budget scoped to some dimension values spends, on each
billing day, what the stored allocation charged the scope (``allocation``); a day no allocation covers (not
allocated yet, or allocated over other dimensions) falls back to the scope's share of the whole bill by
estimated cost (``estimate_share``), which includes idle capacity, purchases and unallocated cost. A nowcast
takes the scope's own estimate after the last complete billing day (``estimated``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["SourceDays", "SpendSource", "source_days"]


class SpendSource(StrEnum):
    BILLED = "billed"  # the whole bill: a budget over everything
    ALLOCATION = "allocation"  # what the stored allocation charged the scope
    ESTIMATE_SHARE = "estimate_share"  # the scope's estimated share of the whole bill (no allocation)
    ESTIMATED = "estimated"  # the scope's estimate (nowcast after the last complete billing day)


@dataclass(frozen=True, slots=True)
class SourceDays:
    """How many days of the spend came from one source, and the first and last of them."""

    source: SpendSource
    days: int
    first_day: dt.date
    last_day: dt.date


def source_days(sources: Mapping[dt.date, SpendSource]) -> tuple[SourceDays, ...]:
    """Each source's days, in the order of its first day.

    >>> d = dt.date(2026, 11, 1)
    >>> source_days({d: SpendSource.ALLOCATION, d.replace(day=2): SpendSource.ESTIMATED})[1].source.value
    'estimated'
    """
    spans: dict[SpendSource, list[dt.date]] = {}
    for day in sorted(sources):
        spans.setdefault(sources[day], []).append(day)
    return tuple(SourceDays(source, len(days), days[0], days[-1]) for source, days in spans.items())
