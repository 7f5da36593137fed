"""Recommendations and what-ifs of a period: ``/api/recommendations``, ``/api/whatif``, ``aifinops
recommend``, ``aifinops whatif``, ``/metrics``, the snapshot and the demo all read through here.

The store aggregates the period's events into call groups and task step counts; the engine detects, applies
and prices; this module turns the result into the documents every reader shows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from aifinops.config import OptimizeConfig
from aifinops.domain import DeploymentType, MeterKind, Price, to_nanos
from aifinops.engine.optimize.finding import OptimizeSettings
from aifinops.engine.optimize.ptu import Capacity, normalized, spec_for
from aifinops.engine.optimize.recommend import recommend
from aifinops.engine.optimize.scenario import ScenarioPart, parse_scenario
from aifinops.engine.optimize.whatif import what_if
from aifinops.engine.optimize.workload import (
    NO_STEP,
    CallGroup,
    Cell,
    Meters,
    RetrievalGroup,
    TaskGroup,
    TelemetryGroup,
    Workload,
    cost_nanos,
)
from aifinops.engine.pricing import PriceBook
from aifinops.engine.provisioned import unit_hour_price
from aifinops.engine.usage_buckets import EPOCH
from aifinops.queries.optimize_allocation import read_allocation_shares
from aifinops.queries.recommendations_json import basis_of, recommendation_json, whatif_json
from aifinops.queries.telemetry import telemetry_lines
from aifinops.store import Store
from aifinops.store.optimize_days import OptimizeDayStore
from aifinops.store.optimize_queries import (
    call_groups,
    daily_calls,
    day_groups,
    hourly_tokens,
    ptu_costs,
    ptu_hours,
    stale_days,
    task_steps,
)
from aifinops.store.price_queries import read_prices, read_prices_by_id
from aifinops.store.retrieval_queries import retrieval_outcomes

__all__ = [
    "optimize_settings",
    "read_workload",
    "recommendation_json",
    "recommendations_document",
    "whatif_document",
]

_PRICE_IDS = ("input_price_id", "cached_input_price_id", "output_price_id", "unit_price_id")
_BATCH_TWINS = {
    DeploymentType.GLOBAL_STANDARD: DeploymentType.GLOBAL_BATCH,
    DeploymentType.DATA_ZONE_STANDARD: DeploymentType.DATA_ZONE_BATCH,
}


def optimize_settings(config: OptimizeConfig) -> OptimizeSettings:
    """The levers' settings from the configuration (``optimize:``)."""
    return OptimizeSettings(
        min_share=config.min_share,
        batchable=frozenset(config.batchable),
        ptu_throughput=dict(config.ptu_throughput),
    )


def _nanos_per_unit(price: Price | None) -> Decimal | None:
    return None if price is None else to_nanos(price.price) / Decimal(price.unit_size)


class _Prices:
    """The meters of call groups: the prices their events were charged, and — for a meter a group never
    used (no cached tokens yet) — the price the book gives the same model, deployment type and region."""

    def __init__(self, store: Store, rows: Sequence[Mapping[str, Any]], at: dt.datetime) -> None:
        self.charged = read_prices_by_id(store, {r[c] for r in rows for c in _PRICE_IDS if r[c] is not None})
        self.prices = read_prices(store) if self.charged else []
        self.book = PriceBook(self.prices) if self.charged else None
        self.at = at
        self._meters: dict[tuple[Any, ...], Meters | None] = {}

    def _like(self, price: Price, kind: MeterKind) -> Price | None:
        assert self.book is not None
        return self.book.find(
            model=price.model,
            meter_kind=kind,
            ts=self.at,
            deployment_type=price.deployment_type,
            region=price.region,
            model_version=price.model_version,
            currency=price.currency,
        )

    def batch_meters(self, row: Mapping[str, Any]) -> Meters | None:
        """The Batch prices of the model a row's calls used, on the batch twin of its deployment type."""
        charged = self.charged.get(row["input_price_id"]) if row["input_price_id"] is not None else None
        batch = _BATCH_TWINS.get(charged.deployment_type) if charged and charged.deployment_type else None
        return None if charged is None or batch is None else self.twin(charged, batch)

    def twin(self, charged: Price, deployment_type: DeploymentType) -> Meters | None:
        """The token prices of ``charged``'s model on another deployment type (None: the book has none)."""
        key = ("twin", charged.price_id, deployment_type)
        if key not in self._meters:
            other = dataclasses.replace(charged, deployment_type=deployment_type)
            found = [
                self._like(other, k) for k in (MeterKind.INPUT, MeterKind.CACHED_INPUT, MeterKind.OUTPUT)
            ]
            usable = (
                found[0] is not None and found[2] is not None and found[0].deployment_type is deployment_type
            )
            self._meters[key] = Meters(*(_nanos_per_unit(p) for p in found)) if usable else None
        return self._meters[key]

    def ptu_hour(self, charged: Price, deployment_type: DeploymentType | None) -> Decimal | None:
        """Nanos of one PTU for one hour on ``deployment_type``: the price book's hourly unit price as the PTU
        estimate reads it (:func:`aifinops.engine.provisioned.unit_hour_price`), in the calls' currency."""
        if deployment_type is None:
            return None
        price = unit_hour_price(
            (p for p in self.prices if p.currency == charged.currency),
            deployment_type=deployment_type,
            region=charged.region,
            model=charged.model,
            at=self.at,
        )
        return _nanos_per_unit(price)

    def meters(self, row: Mapping[str, Any]) -> Meters:
        key = tuple(row[c] for c in _PRICE_IDS)
        if key not in self._meters:
            found = [self.charged.get(i) if i is not None else None for i in key]
            if found[0] is not None and found[1] is None:
                found[1] = self._like(found[0], MeterKind.CACHED_INPUT)
            if found[0] is not None and found[2] is None:
                found[2] = self._like(found[0], MeterKind.OUTPUT)
            self._meters[key] = Meters(*(_nanos_per_unit(p) for p in found))
        meters = self._meters[key]
        assert meters is not None
        return meters


_PAYG_TWINS = {
    DeploymentType.GLOBAL_PROVISIONED: DeploymentType.GLOBAL_STANDARD,
    DeploymentType.DATA_ZONE_PROVISIONED: DeploymentType.DATA_ZONE_STANDARD,
    DeploymentType.PROVISIONED: DeploymentType.STANDARD,
}
_PTU_TWINS = {v: k for k, v in _PAYG_TWINS.items()}


def _capacities(
    store: Store,
    rows: Sequence[Mapping[str, Any]],
    prices: _Prices,
    window: tuple[dt.datetime, dt.datetime, Mapping[str, Sequence[str]] | None],
    settings: OptimizeSettings,
) -> dict[str, Capacity]:
    """Each deployment of a model with PTU parameters, priced both ways: its hourly profile, the PTU hour
    price of its deployment type, its pay-as-you-go prices, and — provisioned — the units billed."""
    start, end, where = window
    hours = max(1, int((end - start).total_seconds() // 3600))
    first_row = {r["deployment"]: r for r in rows if r["deployment"] and r["input_price_id"] is not None}
    following = end.date() + dt.timedelta(days=int(end.time() != dt.time(0)))
    billed = ptu_hours(store, start.date(), following)
    paid = ptu_costs(store, start.date(), following)
    profile: dict[str, list[dict[str, Any]]] = {}
    for h in hourly_tokens(store, start, end, where=where):
        profile.setdefault(h["deployment"], []).append(h)
    out: dict[str, Capacity] = {}
    for deployment, row in first_row.items():
        charged = prices.charged.get(row["input_price_id"])
        spec = spec_for(row["model"], deployment, settings.ptu_throughput)
        if charged is None or spec is None or charged.deployment_type is None:
            continue
        owned = charged.deployment_type.is_provisioned
        payg = prices.twin(charged, _PAYG_TWINS[charged.deployment_type]) if owned else prices.meters(row)
        hour_price = prices.ptu_hour(
            charged, charged.deployment_type if owned else _PTU_TWINS.get(charged.deployment_type)
        )
        resource = (row["resource_id"] or "").lower()
        units = round(billed.get(resource, Decimal(0)) / hours) if owned else 0
        if payg is None or hour_price is None or (owned and not units):
            continue
        hourly = tuple(
            (
                normalized(
                    int(h["input_tokens"]),
                    int(h["cached_input_tokens"]),
                    int(h["output_tokens"]),
                    spec.output_weight,
                ),
                cost_nanos(
                    CallGroup(
                        Cell(None),
                        payg,
                        1,
                        int(h["input_tokens"]),
                        int(h["cached_input_tokens"]),
                        int(h["output_tokens"]),
                    )
                ),
            )
            for h in profile.get(deployment, [])
            if h["model"] == row["model"]
        )
        out[deployment] = Capacity(
            deployment=deployment,
            model=row["model"],
            currency=charged.currency,
            hours=hours,
            hourly=hourly,
            unit_hour_nanos=hour_price,
            tokens_per_unit_hour=spec.input_tpm * 60,
            units=units,
            owned=owned,
            minimum=spec.minimum,
            increment=spec.increment,
            **(
                _reservation(billed.get(resource, Decimal(0)), paid.get(resource), hour_price, hours)
                if owned
                else {}
            ),
        )
    return out


def _reservation(
    unit_hours: Decimal, paid: tuple[Decimal, Decimal] | None, hour_price: Decimal, hours: int
) -> dict[str, Any]:
    """The reserved units of a provisioned deployment and their rate, from its bill: unit-hours the actual
    cost does not charge at the hourly price are reserved, and the amortized cost charges them the rate.

    >>> _reservation(Decimal(150), (Decimal(50 * 10**9), Decimal(86 * 10**9)), Decimal(10**9), 10)
    {'reserved_units': 10, 'reservation_hour_nanos': Decimal('360000000')}
    """
    if paid is None or not hour_price:
        return {}
    actual, amortized = paid
    reserved_hours = unit_hours - actual / hour_price
    units = round(reserved_hours / hours) if reserved_hours > 0 else 0
    if units <= 0 or amortized <= actual:
        return {}
    return {"reserved_units": units, "reservation_hour_nanos": (amortized - actual) / (units * hours)}


def _first_steps(rows: Sequence[Mapping[str, Any]]) -> dict[str | None, int]:
    first: dict[str | None, int] = {}
    for r in rows:
        if r["step"] is not None:
            first[r["use_case"]] = min(first.get(r["use_case"], r["step"]), r["step"])
    return first


_DAY = dt.timedelta(days=1)


def _call_rows(
    store: Store, start: dt.datetime, end: dt.datetime, where: Mapping[str, Sequence[str]] | None
) -> list[dict[str, Any]]:
    """Call groups of ``[start, end)``: whole UTC days from the daily groups (built first where missing or
    stale), the partial days at either end from the events. Filtered reads go to the events."""
    first = -(-(start - EPOCH) // _DAY)  # the first whole day, rounded up
    following = (end - EPOCH) // _DAY
    if where or first >= following:
        return call_groups(store, start, end, where=where)
    stale = stale_days(store, first, following)
    if stale:
        OptimizeDayStore(store).build(stale, now=dt.datetime.now(dt.UTC))
    rows = day_groups(store, first, following)
    if start < EPOCH + first * _DAY:
        rows += call_groups(store, start, EPOCH + first * _DAY)
    if EPOCH + following * _DAY < end:
        rows += call_groups(store, EPOCH + following * _DAY, end)
    return rows


def read_workload(
    store: Store,
    start: dt.datetime,
    end: dt.datetime,
    *,
    where: Mapping[str, Sequence[str]] | None = None,
    settings: OptimizeSettings | None = None,
) -> Workload:
    """The calls and tasks of ``[start, end)`` (``where``: dimension filters) as the optimizer's workload."""
    rows = _call_rows(store, start, end, where)
    prices = _Prices(store, rows, start)
    first = _first_steps(rows)
    cells: dict[Cell, Cell] = {}  # groups alike share one cell: the engine checks a scope once per cell
    groups = tuple(
        CallGroup(
            cell=cells.setdefault(
                cell := Cell(
                    use_case=r["use_case"],
                    app=r["app"],
                    agent=r["agent"],
                    deployment=r["deployment"],
                    model=r["model"],
                    deployment_type=r["deployment_type"],
                    region=r["region"],
                    kind=r["kind"],
                    currency=r["currency"] or "",  # free calls (a refused attempt) have no currency
                ),
                cell,
            ),
            meters=prices.meters(r),
            calls=int(r["calls"]),
            input_tokens=int(r["input_tokens"] or 0),
            cached_input_tokens=int(r["cached_input_tokens"] or 0),
            output_tokens=int(r["output_tokens"] or 0),
            quantity=Decimal(int(r["quantity_nanos"] or 0)).scaleb(-9),
            step=NO_STEP if r["step"] is None else r["step"] - first[r["use_case"]],
            attempt=int(r["attempt"]),
            status=r["status"],
            duplicate=bool(r["duplicate"]),
            length_stop=bool(r["length_stop"]),
            samples=tuple(dict.fromkeys(t for t in (r["first_task"], r["last_task"]) if t)),
            batch_meters=prices.batch_meters(r),
            retrieved_tokens=int(r["retrieved_tokens"] or 0),
        )
        for r in rows
    )
    tasks = tuple(
        TaskGroup(
            use_case=t["use_case"],
            steps=0 if t["max_step"] is None else t["max_step"] - first.get(t["use_case"], 0) + 1,
            outcome=t["outcome"],
            tasks=int(t["tasks"]),
            model=t["model"],
        )
        for t in task_steps(store, start, end, where=where)
    )
    per_day: dict[str | None, dict[int, int]] = {}
    for d in daily_calls(store, (start - EPOCH) // _DAY, -(-(end - EPOCH) // _DAY), where=where):
        per_day.setdefault(d["use_case"], {})[int(d["day"])] = int(d["calls"] or 0)
    capacities = _capacities(store, rows, prices, (start, end, where), settings or OptimizeSettings())
    workload = Workload(
        start=start,
        end=end,
        groups=groups,
        tasks=tasks,
        daily_calls=per_day,
        capacities=capacities,
        telemetry=() if where else _telemetry(store, start, end),
        retrievals=_retrievals(store, groups, (start, end, where)),
    )
    allocation, note = read_allocation_shares(store, workload, where=where)
    return replace(workload, allocation=allocation, assumptions=(note,) if note else ())


def _retrievals(
    store: Store,
    groups: Sequence[CallGroup],
    window: tuple[dt.datetime, dt.datetime, Mapping[str, Sequence[str]] | None],
) -> tuple[RetrievalGroup, ...]:
    """What retrievals returned, by the outcome of their task — read only when some reported it."""
    if not any(g.retrieved_tokens for g in groups):
        return ()
    start, end, where = window
    return tuple(
        RetrievalGroup(
            Cell(r["use_case"], agent=r["agent"], kind="retrieval", currency=""),
            r["outcome"],
            int(r["calls"]),
            int(r["retrieved_tokens"]),
            (r["sample"],) if r["sample"] else (),
        )
        for r in retrieval_outcomes(store, start, end, where=where)
    )


def _telemetry(store: Store, start: dt.datetime, end: dt.datetime) -> tuple[TelemetryGroup, ...]:
    """The Log Analytics charges (basis actual) of the billing days the window covers, by workspace, table
    and kind of meter, with each table's billable GB (``/api/telemetry-cost``'s figures)."""
    following = end.date() + dt.timedelta(days=int(end.time() != dt.time(0)))
    lines, tables, _ = telemetry_lines(store, start.date(), following)
    gb: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for t in tables:
        gb[(t.workspace, t.data_type)] += t.megabytes / 1000
    cost: dict[tuple[str, str, str, str], Decimal] = defaultdict(Decimal)
    for line in lines:
        cost[(line.workspace, line.data_type or "", line.kind, line.currency)] += line.cost_nanos
    return tuple(
        TelemetryGroup(w, table, kind, currency, gb.get((w, table), Decimal(0)), nanos)
        for (w, table, kind, currency), nanos in sorted(cost.items())
    )


def recommendations_document(
    store: Store,
    *,
    start: dt.datetime,
    end: dt.datetime,
    where: Mapping[str, Sequence[str]] | None = None,
    settings: OptimizeSettings | None = None,
) -> dict[str, Any]:
    """The recommendations of ``[start, end)`` in the levers' order, and the what-if of applying them all."""
    workload = read_workload(store, start, end, where=where, settings=settings)
    recs = recommend(workload, settings)
    parts: list[ScenarioPart] = [r.finding.part for r in recs]
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "filters": {k: list(v) for k, v in (where or {}).items()},
        "recommendations": [recommendation_json(i + 1, r, recs, workload) for i, r in enumerate(recs)],
        "all_applied": whatif_json(what_if(workload, parts), workload, basis_of(parts)),
    }


def whatif_document(
    store: Store,
    *,
    start: dt.datetime,
    end: dt.datetime,
    scenario: Any,
    where: Mapping[str, Sequence[str]] | None = None,
    settings: OptimizeSettings | None = None,
) -> dict[str, Any]:
    """A scenario (JSON parts, checked) priced over ``[start, end)``: cost and cost per successful task before
    and after, with the assumptions."""
    parts = parse_scenario(scenario)
    workload = read_workload(store, start, end, where=where, settings=settings)
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "filters": {k: list(v) for k, v in (where or {}).items()},
        "scenario": [p.as_json() for p in parts],
        **whatif_json(what_if(workload, parts), workload, basis_of(parts)),
    }
