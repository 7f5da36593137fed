"""Budgets: definitions, evaluation of spend against thresholds, and the alert state machine (pure).

Alert state machine, per (budget, threshold, period)::

    armed ──(ratio ≥ threshold during the period)──► fired ──(period ends)──► armed (next period)

A threshold fires at most once per period, whatever the spend does afterwards (actuals replacing
estimates may lower it and raise it again). The state is the set of thresholds already fired in the
current period, which the caller persists; ``alerts_to_fire`` is a pure function of it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from types import MappingProxyType

from aifinops.domain import DIMENSIONS, Basis, Money, plain
from aifinops.engine.forecast import Forecast
from aifinops.engine.periods import Period, PeriodKind, period_containing, zone
from aifinops.engine.spend_sources import SourceDays

__all__ = [
    "Action",
    "Alert",
    "Budget",
    "BudgetStatus",
    "Enforcement",
    "Threshold",
    "ThresholdType",
    "alerts_to_fire",
    "budget_from_dict",
    "budget_to_dict",
    "evaluate_budget",
    "scope_label",
    "scope_matches",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_BUDGET_BASES = (Basis.ACTUAL, Basis.AMORTIZED, Basis.NOWCAST)


class ThresholdType(StrEnum):
    """Whether a threshold watches spend so far or the period-end forecast (Azure: Actual/Forecasted)."""

    ACTUAL = "actual"
    FORECAST = "forecast"


class Action(StrEnum):
    """What the gateway does while a budget is exceeded."""

    NOTIFY = "notify"
    BLOCK = "block"
    DOWNGRADE = "downgrade"


@dataclass(frozen=True, slots=True)
class Threshold:
    """A percentage of the budget amount (0 < percent ≤ 1000, as in Azure budgets) on actual or forecast."""

    percent: Decimal
    type: ThresholdType = ThresholdType.ACTUAL

    def __post_init__(self) -> None:
        if not Decimal(0) < self.percent <= Decimal(1000):
            raise ValueError(f"threshold percent must be in (0, 1000], got {self.percent}")

    @property
    def key(self) -> str:
        """``actual:80``, ``forecast:100``: the threshold's identity in alert state."""
        return f"{self.type.value}:{self.percent.normalize():f}"


@dataclass(frozen=True, slots=True)
class Enforcement:
    """The gateway action while exceeded; ``downgrade`` names the cheaper deployment to route to."""

    action: Action = Action.NOTIFY
    downgrade_to: str | None = None

    def __post_init__(self) -> None:
        if (self.action is Action.DOWNGRADE) != bool(self.downgrade_to):
            raise ValueError(
                f"action {self.action.value!r} with downgrade_to={self.downgrade_to!r}: "
                "'downgrade' needs a deployment name and the other actions take none"
            )


@dataclass(frozen=True, slots=True)
class Budget:
    """One budget: a scope over the allocation dimensions, an amount per calendar period, thresholds.

    ``scope`` maps a dimension to the values it may take (any of them); an empty scope is everything.
    ``tz`` None means the configured zone. ``custom`` is ``(first_day, last_day)`` for ``PeriodKind.CUSTOM``.
    """

    name: str
    amount: Decimal
    currency: str
    period: PeriodKind = PeriodKind.MONTH
    basis: Basis = Basis.NOWCAST
    scope: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    thresholds: tuple[Threshold, ...] = (Threshold(Decimal(100)),)
    enforcement: Enforcement = field(default_factory=Enforcement)
    tz: str | None = None
    custom: tuple[dt.date, dt.date] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "scope", MappingProxyType({k: tuple(v) for k, v in sorted(self.scope.items())})
        )
        for problem in _problems(self):
            raise ValueError(f"budget {self.name!r}: {problem}")

    def period_at(self, as_of: dt.datetime, default_tz: str) -> Period | None:
        """The period that contains ``as_of`` (None outside a custom range)."""
        return period_containing(as_of, self.period, self.tz or default_tz, custom=self.custom)


def _problems(budget: Budget) -> list[str]:
    problems = []
    if not _NAME.match(budget.name):
        problems.append(
            "name must be 1-128 letters, digits, '_', '-' or '.', starting with a letter or digit"
        )
    if budget.amount <= 0:
        problems.append(f"amount must be positive, got {budget.amount}")
    if not re.fullmatch(r"[A-Z]{3}", budget.currency):
        problems.append(f"currency must be an ISO code like 'USD', got {budget.currency!r}")
    if budget.basis not in _BUDGET_BASES:
        problems.append(
            f"basis must be one of {[b.value for b in _BUDGET_BASES]}, got {budget.basis.value!r}"
        )
    unknown = sorted(set(budget.scope) - set(DIMENSIONS))
    if unknown:
        problems.append(f"scope has unknown dimension(s) {unknown}; choose from {list(DIMENSIONS)}")
    problems += [f"scope {k} needs at least one value" for k, v in budget.scope.items() if not v]
    if (budget.period is PeriodKind.CUSTOM) != (budget.custom is not None):
        problems.append("a custom range (first and last day) is given with period 'custom' and only then")
    if budget.custom is not None and budget.custom[1] < budget.custom[0]:
        problems.append(f"custom range ends ({budget.custom[1]}) before it starts ({budget.custom[0]})")
    if not budget.thresholds:
        problems.append("needs at least one threshold")
    if len({t.key for t in budget.thresholds}) != len(budget.thresholds):
        problems.append("thresholds repeat")
    if budget.tz is not None:
        try:
            zone(budget.tz)
        except ValueError as exc:
            problems.append(str(exc))
    return problems


def scope_matches(scope: Mapping[str, tuple[str, ...]], values: Mapping[str, str]) -> bool:
    """True when every scoped dimension of ``values`` is one of the scope's values ('' = none)."""
    return all(values.get(dim, "") in allowed for dim, allowed in scope.items())


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """A budget at one instant: spend and forecast against its amount, and which thresholds are crossed."""

    budget: Budget
    period: Period
    spend: Money
    forecast: Forecast | None
    ratio: Decimal  # spend / amount
    forecast_ratio: Decimal | None
    crossed: tuple[Threshold, ...]
    sources: tuple[SourceDays, ...] = ()  # where the spend's days came from
    note: str = ""  # why some of them are not what they should be (no allocation covers them)

    @property
    def exceeded(self) -> bool:
        return self.ratio >= 1

    @property
    def spend_source(self) -> str:
        """``allocation+estimated``: the spend's sources in the order of their first day."""
        return "+".join(s.source.value for s in self.sources)

    @property
    def enforced(self) -> Enforcement | None:
        """The gateway action in force: only while exceeded and only when it does more than notify."""
        action = self.budget.enforcement
        return action if self.exceeded and action.action is not Action.NOTIFY else None


def _ratio(value: Decimal, amount: Decimal) -> Decimal:
    return (value / amount).quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN)


def _is_crossed(threshold: Threshold, ratio: Decimal, forecast_ratio: Decimal | None) -> bool:
    value = ratio if threshold.type is ThresholdType.ACTUAL else forecast_ratio
    return value is not None and value * 100 >= threshold.percent


def evaluate_budget(
    budget: Budget,
    *,
    period: Period,
    spend: Decimal,
    forecast: Forecast | None,
    sources: tuple[SourceDays, ...] = (),
) -> BudgetStatus:
    """Compare spend (on the budget's basis) and the period-end forecast with each threshold.

    >>> b = Budget("b", Decimal("100"), "USD")
    >>> p = Period(PeriodKind.MONTH, dt.date(2026, 11, 1), dt.date(2026, 11, 30), "UTC")
    >>> evaluate_budget(b, period=p, spend=Decimal("100"), forecast=None).exceeded
    True
    """
    ratio = _ratio(spend, budget.amount)
    forecast_ratio = _ratio(forecast.point, budget.amount) if forecast is not None else None
    crossed = tuple(t for t in budget.thresholds if _is_crossed(t, ratio, forecast_ratio))
    return BudgetStatus(
        budget=budget,
        period=period,
        spend=Money(spend, budget.currency, budget.basis),
        forecast=forecast,
        ratio=ratio,
        forecast_ratio=forecast_ratio,
        crossed=crossed,
        sources=sources,
    )


@dataclass(frozen=True, slots=True)
class Alert:
    """One threshold crossing to notify, once per (budget, threshold, period)."""

    budget: str
    threshold: Threshold
    period_key: str
    observed: Money  # the spend or forecast that crossed
    amount: Money  # the budget amount
    ratio: Decimal
    fired_at: dt.datetime
    scope: Mapping[str, tuple[str, ...]]
    enforcement: Enforcement
    source: str = ""  # where the spend came from: BudgetStatus.spend_source

    @property
    def summary(self) -> str:
        what = "spend" if self.threshold.type is ThresholdType.ACTUAL else "forecast spend"
        source = f" from {self.source}" if self.source else ""
        return (
            f"Budget {self.budget} ({self.period_key}): {what} "
            f"{self.observed.quantized()} {self.observed.currency} "
            f"is {(self.ratio * 100).quantize(Decimal('0.1'))}% of {self.amount.quantized()} "
            f"{self.amount.currency} ({self.observed.basis.value}{source}), "
            f"threshold {self.threshold.percent}%"
        )


def alerts_to_fire(status: BudgetStatus, *, fired: Collection[str], as_of: dt.datetime) -> tuple[Alert, ...]:
    """The transitions armed → fired for this evaluation: crossed thresholds whose key is not in ``fired``.

    ``fired`` holds the threshold keys already fired in ``status.period``; a new period starts empty,
    which is the reset.
    """
    alerts = []
    for threshold in status.crossed:
        if threshold.key in fired:
            continue
        is_actual = threshold.type is ThresholdType.ACTUAL
        observed = status.spend.amount if is_actual or status.forecast is None else status.forecast.point
        ratio = status.ratio if is_actual else (status.forecast_ratio or Decimal(0))
        alerts.append(
            Alert(
                budget=status.budget.name,
                threshold=threshold,
                period_key=status.period.key,
                observed=Money(observed, status.budget.currency, status.budget.basis),
                amount=Money(status.budget.amount, status.budget.currency, status.budget.basis),
                ratio=ratio,
                fired_at=as_of,
                scope=status.budget.scope,
                enforcement=status.budget.enforcement,
                source=status.spend_source,
            )
        )
    return tuple(alerts)


def scope_label(scope: Mapping[str, tuple[str, ...]]) -> str:
    """``tenant=contoso, use_case=case-summary|triage`` ('all' for the empty scope)."""
    return ", ".join(f"{k}={'|'.join(v)}" for k, v in scope.items()) or "all"


def _field(name: str, value: object, fix: str) -> ValueError:
    return ValueError(f"{name}: {value!r} {fix}")


def _decimal(name: str, value: object) -> Decimal:
    if isinstance(value, float):
        # Floats cannot say 0.1 exactly; a config file should write money as a string or an integer.
        value = repr(value)
    try:
        return Decimal(str(value))
    except ArithmeticError as exc:
        raise _field(name, value, "is not a number; write it like '1000.00'") from exc


def _threshold_from(index: int, item: object) -> Threshold:
    if isinstance(item, Mapping):
        percent, kind = item.get("percent"), item.get("type", ThresholdType.ACTUAL.value)
    else:
        percent, kind = item, ThresholdType.ACTUAL.value
    try:
        return Threshold(_decimal(f"thresholds[{index}].percent", percent), ThresholdType(str(kind)))
    except ValueError as exc:
        raise ValueError(f"thresholds[{index}]: {exc}") from exc


def _date(name: str, value: object) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise _field(name, value, "is not a date; write it like 2026-11-01") from exc


def _enum(cls: type[StrEnum], name: str, value: object) -> StrEnum:
    try:
        return cls(str(value))
    except ValueError as exc:
        raise _field(name, value, f"is not one of {[m.value for m in cls]}") from exc


def budget_from_dict(data: Mapping[str, object]) -> Budget:
    """A Budget from its JSON/YAML form (see :func:`budget_to_dict`); ValueError names the field.

    >>> budget_from_dict({"name": "all", "amount": "500", "currency": "USD", "thresholds": [80]}).thresholds
    (Threshold(percent=Decimal('80'), type=<ThresholdType.ACTUAL: 'actual'>),)
    """
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise ValueError(f"unknown budget field(s) {unknown}; known: {sorted(_KEYS)}")
    raw_scope = data.get("scope") or {}
    if not isinstance(raw_scope, Mapping):
        raise _field("scope", raw_scope, "must map dimensions to a value or a list of values")
    scope = {
        str(k): tuple(str(x) for x in v) if isinstance(v, list | tuple) else (str(v),)
        for k, v in raw_scope.items()
    }
    thresholds = data.get("thresholds", [100])
    if not isinstance(thresholds, list | tuple):
        raise _field("thresholds", thresholds, "must be a list like [50, 80, {percent: 100, type: forecast}]")
    period = PeriodKind(_enum(PeriodKind, "period", data.get("period", "month")))
    custom = None
    if data.get("start") is not None or data.get("end") is not None:
        custom = (_date("start", data.get("start")), _date("end", data.get("end")))
    action = Action(_enum(Action, "action", data.get("action", "notify")))
    downgrade_to = data.get("downgrade_to")
    try:
        enforcement = Enforcement(action, str(downgrade_to) if downgrade_to else None)
    except ValueError as exc:
        raise ValueError(f"downgrade_to: {exc}") from exc
    return Budget(
        name=str(data.get("name", "")),
        amount=_decimal("amount", data.get("amount")),
        currency=str(data.get("currency", "")),
        period=period,
        basis=Basis(_enum(Basis, "basis", data.get("basis", "nowcast"))),
        scope=scope,
        thresholds=tuple(_threshold_from(i, t) for i, t in enumerate(thresholds)),
        enforcement=enforcement,
        tz=str(data["timezone"]) if data.get("timezone") else None,
        custom=custom,
    )


_KEYS = frozenset(
    {
        "name",
        "amount",
        "currency",
        "period",
        "basis",
        "scope",
        "thresholds",
        "action",
        "downgrade_to",
        "timezone",
        "start",
        "end",
    }
)


def budget_to_dict(budget: Budget) -> dict[str, object]:
    """The JSON form of a budget: money and percents as strings, dates ISO, scope values as lists."""
    data: dict[str, object] = {
        "name": budget.name,
        "scope": {k: list(v) for k, v in budget.scope.items()},
        "amount": plain(budget.amount),
        "currency": budget.currency,
        "period": budget.period.value,
        "basis": budget.basis.value,
        "thresholds": [{"percent": str(t.percent), "type": t.type.value} for t in budget.thresholds],
        "action": budget.enforcement.action.value,
        "downgrade_to": budget.enforcement.downgrade_to,
        "timezone": budget.tz,
    }
    if budget.custom is not None:
        data["start"], data["end"] = budget.custom[0].isoformat(), budget.custom[1].isoformat()
    return data
