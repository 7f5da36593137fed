"""The daily usage meter rollup (``usage_meter_daily``): events summed per UTC day, caller, account, retry and
step class and the prices each meter was charged at, maintained beside the hourly and daily rollups.

The estate, the cost drivers and the reconciliation estimates read it instead of grouping the raw events of a
period. NULL text is stored as '' and NULL price ids as 0, with ``has_resource`` and ``priced`` keeping apart
what the readers tell apart (events without an account, unpriced events).
"""

from __future__ import annotations

from aifinops.store.meter_tables import METER_DIMS, METER_KEY, METER_PRICE_IDS, METER_SUMS

__all__ = ["meter_rollup_sql"]

_SELECT_KEY = (
    "hour / 24",
    *(f"COALESCE({d}, '')" for d in METER_DIMS),
    "kind",
    "CASE WHEN attempt > 1 THEN 1 ELSE 0 END",
    "CASE WHEN attempt <= 1 AND step > 1 THEN 1 ELSE 0 END",
    "CASE WHEN resource_id IS NULL THEN 0 ELSE 1 END",
    "CASE WHEN cost_nanos IS NULL THEN 0 ELSE 1 END",
    *(f"COALESCE({p}, 0)" for p in METER_PRICE_IDS),
    "COALESCE(currency, '')",
)
_SELECT_SUMS = (
    "COUNT(*)",
    "SUM(CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END)",
    "SUM(input_tokens)",
    "SUM(cached_input_tokens)",
    "SUM(output_tokens)",
    "SUM(reasoning_tokens)",
    "COALESCE(SUM(quantity_nanos), 0)",
    "COALESCE(SUM(cost_nanos), 0)",
)


def meter_rollup_sql(where: str, *, sqlite: bool) -> str:
    """Add the events matching ``where`` to ``usage_meter_daily``, aggregated by the database itself."""
    sets = ", ".join(f"{n} = usage_meter_daily.{n} + excluded.{n}" for n in METER_SUMS)
    return (
        f"INSERT INTO usage_meter_daily ({', '.join(METER_KEY + METER_SUMS)}) "
        f"SELECT {', '.join(_SELECT_KEY + _SELECT_SUMS)} FROM usage_events WHERE {where} "
        f"GROUP BY {', '.join(_SELECT_KEY)} "
        # In key order on PostgreSQL: concurrent writers lock rows in the same order (as the rollups do).
        f"{'' if sqlite else 'ORDER BY ' + ', '.join(_SELECT_KEY) + ' '}"
        f"ON CONFLICT ({', '.join(METER_KEY)}) DO UPDATE SET {sets}"
    )
