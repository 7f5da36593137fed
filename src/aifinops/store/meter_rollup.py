"""The daily usage meter rollup (``usage_meter_daily``): events summed per UTC day, caller, account, retry and
step class and the prices each meter was charged at, maintained beside the hourly and daily rollups.

The estate, the cost drivers and the reconciliation estimates read it instead of grouping the raw events of a
period. NULL text is stored as '' and NULL price ids as 0, with ``has_resource`` and ``priced`` keeping apart
what the readers tell apart (events without an account, unpriced events).
"""

from __future__ import annotations

from aifinops.store.meter_tables import METER_DIMS, METER_KEY, METER_PRICE_IDS, METER_SUMS

__all__ = ["meter_rollup_sql"]

#: How each sum of a rollup row is computed from the events.
_SUM_SQL = {
    "events": "COUNT(*)",
    "unpriced_events": "SUM(CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END)",
    "input_tokens": "SUM(input_tokens)",
    "cached_input_tokens": "SUM(cached_input_tokens)",
    "output_tokens": "SUM(output_tokens)",
    "reasoning_tokens": "SUM(reasoning_tokens)",
    "quantity_nanos": "COALESCE(SUM(quantity_nanos), 0)",
    "cost_nanos": "COALESCE(SUM(cost_nanos), 0)",
    "cache_write_tokens": "SUM(cache_write_tokens)",
}


def _key_sql(name: str, price_ids: tuple[str, ...]) -> str:
    if name == "day":
        return "hour / 24"
    if name in METER_DIMS:
        return f"COALESCE({name}, '')"
    if name in price_ids:
        return f"COALESCE({name}, 0)"
    return {
        "kind": "kind",
        "retry": "CASE WHEN attempt > 1 THEN 1 ELSE 0 END",
        "extra_step": "CASE WHEN attempt <= 1 AND step > 1 THEN 1 ELSE 0 END",
        "has_resource": "CASE WHEN resource_id IS NULL THEN 0 ELSE 1 END",
        "priced": "CASE WHEN cost_nanos IS NULL THEN 0 ELSE 1 END",
        "currency": "COALESCE(currency, '')",
    }[name]


def meter_rollup_sql(
    where: str,
    *,
    sqlite: bool,
    price_ids: tuple[str, ...] = METER_PRICE_IDS,
    sums: tuple[str, ...] = METER_SUMS,
) -> str:
    """Add the events matching ``where`` to ``usage_meter_daily``, aggregated by the database itself.

    ``price_ids`` and ``sums``: the table's columns as a migration left them (migration 0017 had no cache
    writes); the current table's by default."""
    key = tuple(k for k in METER_KEY if not k.endswith("_price_id") or k in price_ids)
    select_key = [_key_sql(k, price_ids) for k in key]
    sets = ", ".join(f"{n} = usage_meter_daily.{n} + excluded.{n}" for n in sums)
    return (
        f"INSERT INTO usage_meter_daily ({', '.join(key + sums)}) "
        f"SELECT {', '.join([*select_key, *(_SUM_SQL[n] for n in sums)])} FROM usage_events WHERE {where} "
        f"GROUP BY {', '.join(select_key)} "
        # In key order on PostgreSQL: concurrent writers lock rows in the same order (as the rollups do).
        f"{'' if sqlite else 'ORDER BY ' + ', '.join(select_key) + ' '}"
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}"
    )
