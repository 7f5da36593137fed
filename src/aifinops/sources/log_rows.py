"""Reading Log Analytics cells, and counting the rows that could not be used (per reason, with a sample).

Cells arrive as the Logs Query API encodes them (reference/log-analytics.md §1.3): ``dynamic`` as JSON text,
``decimal`` as a string, numbers as JSON numbers; Application Insights custom properties are strings.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["RowIssues", "cell_text", "dynamic", "header", "utc", "whole_number"]

_SAMPLE_CHARS = 160


@dataclass(slots=True)
class RowIssues:
    """Rows left out or kept with a doubt, counted per reason with the first one as a sample."""

    source: str
    counts: dict[str, int] = field(default_factory=dict)
    samples: dict[str, str] = field(default_factory=dict)

    def add(self, reason: str, sample: str, *, count: int = 1) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + count
        self.samples.setdefault(reason, sample[:_SAMPLE_CHARS])

    def extend(self, other: RowIssues) -> None:
        for reason, count in other.counts.items():
            self.add(reason, other.samples[reason], count=count)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def lines(self) -> tuple[str, ...]:
        """``<source>: <n> row(s) <reason>, e.g. <sample>`` per reason, most frequent first."""
        ranked = sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return tuple(
            f"{self.source}: {n} row{'s' if n != 1 else ''} {reason}, e.g. {self.samples[reason]}"
            for reason, n in ranked
        )


def cell_text(value: Any) -> str | None:
    """A non-empty string cell, stripped; empty strings and nulls are None."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def dynamic(value: Any) -> dict[str, Any]:
    """A ``dynamic`` cell holding a JSON object (sent as JSON text; null when empty) as a dict.

    >>> dynamic('{"a": "1"}'), dynamic(None), dynamic("[1]")
    ({'a': '1'}, {}, {})
    """
    if isinstance(value, Mapping):
        return dict(value)
    if not isinstance(value, str) or not value.strip():
        return {}
    try:
        parsed = json.loads(value)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def whole_number(value: Any) -> int | None:
    """A count from a number cell or a string property (``"12"``, ``12``, ``12.0``); None when absent.

    Raises ValueError for text that is no whole number.

    >>> whole_number("12"), whole_number(12.0), whole_number(None)
    (12, 12, None)
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a whole number")
    if isinstance(value, int):
        return value
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError(f"{value!r} is not a whole number") from exc
    if number != number.to_integral_value():
        raise ValueError(f"{value!r} is not a whole number")
    return int(number)


def header(headers: Mapping[str, Any], names: tuple[str, ...] | list[str]) -> str | None:
    """The first of ``names`` present in logged request headers (names compared case-insensitively)."""
    lowered = {str(k).lower(): v for k, v in headers.items()}
    for name in names:
        value = lowered.get(name.lower())
        if isinstance(value, list):  # a header logged with several values
            value = value[0] if value else None
        text = cell_text(value)
        if text is not None:
            return text
    return None


def utc(value: Any) -> dt.datetime | None:
    """A datetime cell as aware UTC; None when absent or not a datetime."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    if isinstance(value, str):
        try:
            return utc(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None
