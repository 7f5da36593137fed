"""The daily usage meter rollup's table (``usage_meter_daily``, migration 0017; cache writes since 0027):
usage per UTC day, caller, account, retry and step class and the prices each meter was charged at. Written by
:mod:`aifinops.store.meter_rollup`, read by :mod:`aifinops.store.meter_queries`."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, String, Table, UniqueConstraint

from aifinops.store.tables import _ID, DIM_LEN, metadata

__all__ = ["METER_DIMS", "METER_KEY", "METER_PRICE_IDS", "METER_SUMS", "usage_meter_daily"]

#: The dimensions of a usage meter rollup row (besides its day, kind and flags): who called which deployment
#: on which account, owner dimensions included, as the estate, the cost drivers and reconciliation read them.
METER_DIMS: tuple[str, ...] = (
    "app",
    "use_case",
    "deployment",
    "model",
    "deployment_type",
    "region",
    "resource_id",
    "cost_center",
    "team",
)
#: The prices each meter of an event was charged at (0 = none); cache writes since migration 0027.
METER_PRICE_IDS: tuple[str, ...] = (
    "input_price_id",
    "cached_input_price_id",
    "output_price_id",
    "unit_price_id",
    "cache_write_price_id",
)
#: The key of a usage meter rollup row: ``retry`` (attempt > 1), ``extra_step`` (a first attempt of a step
#: > 1), ``has_resource`` (resource_id not NULL), ``priced`` (cost not NULL); NULL text is '' and NULL ids 0.
METER_KEY: tuple[str, ...] = (
    "day",
    *METER_DIMS,
    "kind",
    "retry",
    "extra_step",
    "has_resource",
    "priced",
    *METER_PRICE_IDS,
    "currency",
)
METER_SUMS: tuple[str, ...] = (
    "events",
    "unpriced_events",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "quantity_nanos",
    "cost_nanos",
    "cache_write_tokens",
)

#: Usage per UTC day, caller, account and the prices charged per meter: what the estate, the cost drivers and
#: the reconciliation estimates read instead of the events (by the unique key, which leads with ``day``).
usage_meter_daily = Table(
    "usage_meter_daily",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("day", BigInteger, nullable=False),
    *[
        Column(name, String(512 if name == "resource_id" else DIM_LEN), nullable=False, server_default="")
        for name in METER_DIMS
    ],
    Column("kind", String(32), nullable=False),
    *[Column(name, Integer, nullable=False) for name in ("retry", "extra_step", "has_resource", "priced")],
    *[Column(name, BigInteger, nullable=False, server_default="0") for name in METER_PRICE_IDS],
    Column("currency", String(3), nullable=False, server_default=""),
    *[Column(name, BigInteger, nullable=False, server_default="0") for name in METER_SUMS],
    UniqueConstraint(*METER_KEY, name="uq_usage_meter_daily_key"),
)
