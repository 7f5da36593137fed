"""Allocated cost as read: the rules, and the showback of an allocation (``/api/allocation``, reports).

A month of allocation is about a million lines: every read here that walks them pauses the cyclic garbage
collector (:mod:`aifinops.queries.gc_pause`), so that the adapters over it hold no process-state code.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from aifinops.domain import Basis
from aifinops.engine.allocation import AllocationResult
from aifinops.engine.allocation_rules import rule_to_mapping
from aifinops.engine.showback import Showback, build_showback
from aifinops.errors import NotFoundError, ValidationError
from aifinops.queries.gc_pause import gc_paused_for_bulk_objects
from aifinops.queries.reports import showback_document
from aifinops.store import Store
from aifinops.store.allocation_queries import read_allocation, read_rules

__all__ = ["allocation_document", "allocation_showback", "read_showback", "rules_document"]


def rules_document(store: Store) -> dict[str, Any]:
    """The allocation rules, in the order they apply."""
    return {"rules": [rule_to_mapping(r) for r in read_rules(store)]}


def read_showback(
    store: Store, start: dt.date, end: dt.date, *, basis: Basis, by: tuple[str, ...] | None, period: str
) -> Showback:
    """Who consumed the stored allocation of the billing days ``[start, end)``, grouped by ``by`` (default:
    every dimension the allocation is over); ``period`` names the days in the report."""
    with gc_paused_for_bulk_objects():
        result = read_allocation(store, start, end, basis=basis)
        if not result.dimensions:
            raise NotFoundError(
                f"no allocation of {start}..{end} on {basis.value}; POST /api/allocation/run or run "
                f"`aifinops report showback --period {start:%Y-%m} --basis {basis.value}`",
                title="Not allocated",
            )
        try:
            return allocation_showback(
                result, by=result.dimensions if by is None else by, period=period, basis=basis
            )
        except ValueError as exc:
            raise ValidationError(f"by: {exc}", field="by", reason=str(exc)) from exc


def allocation_showback(
    result: AllocationResult, *, by: tuple[str, ...], period: str, basis: Basis
) -> Showback:
    """Who consumed ``result`` (an allocation just run, or read back), grouped by ``by``; raises
    ``ValueError`` for a dimension the allocation is not over."""
    with gc_paused_for_bulk_objects():  # the showback walks the period's million lines
        return build_showback(result, by=by, period=period, basis=basis)


def allocation_document(
    store: Store, start: dt.date, end: dt.date, *, basis: Basis, by: tuple[str, ...] | None, period: str
) -> dict[str, Any]:
    """``/api/allocation``: the showback of the stored allocation as JSON, money exact."""
    with gc_paused_for_bulk_objects():
        return showback_document(read_showback(store, start, end, basis=basis, by=by, period=period))
