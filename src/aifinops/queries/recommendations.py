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
from decimal import Decimal
from typing import Any

from aifinops.config import OptimizeConfig
from aifinops.domain import Basis, DeploymentType, MeterKind, Price, plain, to_nanos
from aifinops.engine.optimize.finding import OptimizeSettings
from aifinops.engine.optimize.ptu import Capacity, normalized, spec_for
from aifinops.engine.optimize.recommend import Recommendation, recommend, stacked_parts
from aifinops.engine.optimize.scenario import ScenarioPart, parse_scenario
from aifinops.engine.optimize.whatif import WhatIf, what_if
from aifinops.engine.optimize.workload import (
    NO_STEP,
    CallGroup,
    Cell,
    Meters,
    TaskGroup,
    TelemetryGroup,
    Workload,
    cost_nanos,
)
from aifinops.engine.pricing import PriceBook
from aifinops.engine.usage_buckets import EPOCH
from aifinops.queries.telemetry import telemetry_lines
from aifinops.store import Store
from aifinops.store.optimize_days import OptimizeDayStore
from aifinops.store.optimize_queries import (
    call_groups,
    daily_calls,
    day_groups,
    hourly_tokens,
    ptu_hours,
    stale_days,
    task_steps,
)
from aifinops.store.price_queries import read_prices, read_prices_by_id

__all__ = [
    "optimize_settings",
    "read_workload",
    "recommendation_json",
    "recommendations_document",
    "whatif_document",
]

_PRICE_IDS = ("input_price_id", "cached_input_price_id", "output_price_id", "unit_price_id")
_HOURS_PER_MONTH = Decimal(730)
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
        self.book = PriceBook(read_prices(store)) if self.charged else None
        self.at = at
        self._meters: dict[tuple[Any, ...], Meters] = {}

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
        kind = charged.deployment_type if charged is not None else None
        twin = _BATCH_TWINS.get(kind) if kind is not None else None
        if charged is None or twin is None:
            return None
        key = ("batch", charged.price_id)
        if key not in self._meters:
            batch = dataclasses.replace(charged, deployment_type=twin)
            found = [
                self._like(batch, kind)
                for kind in (MeterKind.INPUT, MeterKind.CACHED_INPUT, MeterKind.OUTPUT)
            ]
            if found[0] is None or found[2] is None or found[0].deployment_type is not twin:
                return None
            self._meters[key] = Meters(*(_nanos_per_unit(p) for p in found))
        return self._meters[key]

    def twin(self, charged: Price, deployment_type: DeploymentType) -> Meters | None:
        """The token prices of ``charged``'s model on another deployment type (None: the book has none)."""
        other = dataclasses.replace(charged, deployment_type=deployment_type)
        found = [self._like(other, k) for k in (MeterKind.INPUT, MeterKind.CACHED_INPUT, MeterKind.OUTPUT)]
        if found[0] is None or found[2] is None or found[0].deployment_type is not deployment_type:
            return None
        return Meters(*(_nanos_per_unit(p) for p in found))

    def ptu_hour(self, charged: Price, deployment_type: DeploymentType | None) -> Decimal | None:
        """Nanos of one PTU for one hour on ``deployment_type`` (the price book's ``ptu_hour`` meter)."""
        if deployment_type is None or self.book is None:
            return None
        price = self.book.find(
            model="ptu_hour",
            meter_kind=MeterKind.UNIT,
            ts=self.at,
            deployment_type=deployment_type,
            region=charged.region,
            model_version=None,
            currency=charged.currency,
            unit="ptu_hour",
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
        return self._meters[key]


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
    billed = ptu_hours(store, start.date(), end.date() + dt.timedelta(days=int(end.time() != dt.time(0))))
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
        units = round(billed.get((row["resource_id"] or "").lower(), Decimal(0)) / hours) if owned else 0
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
        )
    return out


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
    return Workload(
        start=start,
        end=end,
        groups=groups,
        tasks=tasks,
        daily_calls=per_day,
        capacities=capacities,
        telemetry=() if where else _telemetry(store, start, end),
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


def _money(nanos: Decimal, currency: str, basis: Basis = Basis.ESTIMATED) -> dict[str, str]:
    amount = (nanos / 1_000_000_000).quantize(Decimal("0.000001"))
    return {"amount": plain(amount), "currency": currency, "basis": basis.value}


def _amounts(values: Mapping[str, Decimal | None], basis: Basis = Basis.ESTIMATED) -> list[dict[str, str]]:
    return [_money(v, c, basis) for c, v in sorted(values.items()) if v is not None]


def _per_month(workload: Workload, values: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Amounts of the window per month: a window of 28 to 31 days is a month; others are scaled to 730 h."""
    hours = Decimal((workload.end - workload.start).total_seconds()) / 3600
    if not hours or 28 * 24 <= hours <= 31 * 24:
        return dict(values)
    return {c: v * _HOURS_PER_MONTH / hours for c, v in values.items()}


def _basis(parts: Sequence[ScenarioPart]) -> Basis:
    """Actual when every part acts on telemetry, whose cost comes from the bill; estimated otherwise."""
    return Basis.ACTUAL if parts and all(p.lever == "telemetry" for p in parts) else Basis.ESTIMATED


def _whatif_json(result: WhatIf, workload: Workload, basis: Basis = Basis.ESTIMATED) -> dict[str, Any]:
    return {
        "before": _amounts(result.before, basis),
        "after": _amounts(result.after, basis),
        "savings": _amounts(result.saved(), basis),
        "savings_per_month": _amounts(_per_month(workload, result.saved()), basis),
        "succeeded_tasks": {"before": result.succeeded_before, "after": result.succeeded_after},
        "cost_per_successful_task": {
            "before": _amounts(result.per_task(after=False)),
            "after": _amounts(result.per_task(after=True)),
        },
        "assumptions": list(result.assumptions),
    }


def recommendation_json(
    rank: int, rec: Recommendation, recs: Sequence[Recommendation], workload: Workload
) -> dict[str, Any]:
    """One recommendation as every reader shows it."""
    f = rec.finding
    basis = _basis([f.part])
    stacked = _amounts(_per_month(workload, rec.stacked_savings), basis)
    return {
        "rank": rank,
        "title": f"{f.lever}: " + (", ".join(f"{k}={v}" for k, v in f.scope.items()) or "everything"),
        "detail": f.action,
        "headline": stacked[0] if stacked else None,  # stacked savings per month, first currency
        "lever": f.lever,
        "scope": dict(f.scope),
        "evidence": list(f.evidence),
        "figures": dict(f.figures),
        "sample_task_ids": list(f.samples),
        "action": f.action,
        "policy": None if f.policy is None else dict(f.policy),
        "savings": _amounts(rec.savings, basis),
        "savings_per_month": _amounts(_per_month(workload, rec.savings), basis),
        "stacked_savings": _amounts(rec.stacked_savings, basis),
        "stacked_savings_per_month": _amounts(_per_month(workload, rec.stacked_savings), basis),
        "scope_cost": _amounts(rec.standalone.before, basis),
        "cost_per_successful_task": {
            "before": _amounts(rec.standalone.per_task(after=False)),
            "after": _amounts(rec.standalone.per_task(after=True)),
        },
        "confidence": {"level": f.confidence, "assumptions": list(f.assumptions)},
        "effort": f.effort,
        "risk": f.risk,
        "reversible": f.reversible,
        "window": {"start": workload.start.isoformat(), "end": workload.end.isoformat()},
        "scenario": [f.part.as_json()],
        "stacked_scenario": [p.as_json() for p in stacked_parts(recs, rank - 1)],
    }


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
        "all_applied": _whatif_json(what_if(workload, parts), workload, _basis(parts)),
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
        **_whatif_json(what_if(workload, parts), workload, _basis(parts)),
    }
