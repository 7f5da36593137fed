"""The demo's budgets, alerts and anomalies, through the real evaluation, alert state machine and detector.

Two budgets are sized from the month's own spend so the story holds at any scale: tenant contoso ends the
month between 80 % and 100 % of its amount, and doc-qa is forecast at mid-month to overrun by a quarter or
more. Both are evaluated as of the 15th and as of the last second of the month; newly crossed thresholds
go, HMAC-signed, to a webhook the demo serves on 127.0.0.1, and every delivery is recorded.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import httpx

from aifinops.config import Settings
from aifinops.demo.receiver import AlertReceiver
from aifinops.engine.anomalies import Anomaly
from aifinops.engine.budgets import Budget, BudgetStatus, budget_from_dict
from aifinops.errors import ValidationError
from aifinops.jobs.alerts import Channel, ChannelKind, Notifier, raise_alerts
from aifinops.queries.anomalies import find_anomalies
from aifinops.queries.budgets import evaluate_budgets
from aifinops.sources._http import RetryPolicy
from aifinops.store import Store
from aifinops.store.budget_queries import stored_budget
from aifinops.store.budgets import BudgetStore

__all__ = ["BudgetOutcome", "demo_anomalies", "round_significant", "run_demo_budgets", "size_budgets"]

CONTOSO, DOC_QA = "demo-contoso-monthly", "demo-doc-qa-monthly"


@dataclass(frozen=True, slots=True)
class BudgetOutcome:
    """Thresholds crossed (``budget threshold as of day``), alerts fired now, what the webhook verified."""

    crossed: tuple[str, ...]
    fired: int
    delivered: int
    received: int


def round_significant(value: Decimal, *, up: bool) -> Decimal:
    """``value`` rounded up or down to two significant digits: an amount people would set as a budget.

    >>> round_significant(Decimal("4123.5"), up=True), round_significant(Decimal("4123.5"), up=False)
    (Decimal('4200'), Decimal('4100'))
    """
    if value <= 0:
        raise ValueError(f"a budget amount must be positive, got {value}")
    exponent = value.adjusted() - 1
    rounding = ROUND_CEILING if up else ROUND_FLOOR
    rounded = value.scaleb(-exponent).quantize(Decimal(1), rounding=rounding).scaleb(exponent)
    return Decimal(format(rounded, "f"))  # 4200, not 4.2E+3, wherever the amount is shown


def _spec(
    name: str, scope: dict[str, str], *, amount: Decimal, currency: str, thresholds: list[object]
) -> Budget:
    return budget_from_dict(
        {"name": name, "amount": str(amount), "currency": currency, "scope": scope, "thresholds": thresholds}
    )


def _status(store: Store, budget: Budget, *, as_of: dt.datetime, tz: str) -> BudgetStatus:
    (status,) = evaluate_budgets(store, [budget], as_of=as_of, default_tz=tz)
    return status


def size_budgets(store: Store, *, currency: str, mid: dt.datetime, end: dt.datetime, tz: str) -> list[Budget]:
    """The two demo budgets, their amounts read from a first evaluation of the same scopes."""
    contoso, doc_qa = {"tenant": "contoso"}, {"use_case": "doc-qa"}
    one = Decimal(1)
    spent = _status(
        store, _spec(CONTOSO, contoso, amount=one, currency=currency, thresholds=[100]), as_of=end, tz=tz
    ).spend.amount
    forecast = _status(
        store, _spec(DOC_QA, doc_qa, amount=one, currency=currency, thresholds=[100]), as_of=mid, tz=tz
    ).forecast
    if forecast is None or spent <= 0:
        raise ValidationError(
            f"cannot size the demo budgets for {mid:%Y-%m}: no contoso spend or no doc-qa forecast as of "
            f"{mid:%Y-%m-%d}; load the simulated month first",
            field="month",
        )
    # contoso ends the month at 82–90 % of its amount; doc-qa's mid-month forecast is 125 % or more.
    contoso_amount = round_significant(spent / Decimal("0.9"), up=True)
    doc_qa_amount = round_significant(forecast.point / Decimal("1.25"), up=False)
    return [
        _spec(CONTOSO, contoso, amount=contoso_amount, currency=currency, thresholds=[50, 80, 100]),
        _spec(
            DOC_QA,
            doc_qa,
            amount=doc_qa_amount,
            currency=currency,
            thresholds=[{"percent": 100, "type": "forecast"}, 100],
        ),
    ]


def _save(store: Store, budgets: BudgetStore, wanted: Sequence[Budget]) -> None:
    for budget in wanted:
        stored = stored_budget(store, budget.name)
        if stored is None or stored.budget != budget:  # unchanged budgets keep their version
            budgets.replace(budget)


def run_demo_budgets(
    store: Store, settings: Settings, *, currency: str, year: int, month: int
) -> BudgetOutcome:
    """Size, store and evaluate the demo budgets; deliver new alerts to a local signed webhook."""
    first = dt.datetime(year, month, 1, tzinfo=dt.UTC)
    last = dt.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=dt.UTC) - dt.timedelta(seconds=1)
    mid = first.replace(day=15)
    tz = settings.timezone
    wanted = size_budgets(store, currency=currency, mid=mid, end=last, tz=tz)
    budgets = BudgetStore(store)
    _save(store, budgets, wanted)
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else secrets.token_hex(16)
    crossed: list[str] = []
    fired = 0
    with AlertReceiver(secret) as receiver, httpx.Client(timeout=10.0) as client:
        channel = Channel("demo-webhook", ChannelKind.WEBHOOK, receiver.url, secret)
        notifier = Notifier(client, [channel], policy=RetryPolicy(max_attempts=2, backoff_base=0.1))
        for as_of in (mid, last):
            statuses = evaluate_budgets(store, wanted, as_of=as_of, default_tz=tz)
            crossed += [
                f"{s.budget.name} {t.key} as of {as_of:%Y-%m-%d}" for s in statuses for t in s.crossed
            ]
            fired += len(raise_alerts(budgets, statuses, notifier=notifier, as_of=as_of))
        received = list(receiver.received)
    return BudgetOutcome(tuple(crossed), fired, sum(r.valid for r in received), len(received))


def demo_anomalies(store: Store, settings: Settings, *, day: dt.date, currency: str) -> list[Anomaly]:
    """Anomalies per use case of ``day`` (checked the way ``GET /api/anomalies?by=use_case`` does)."""
    at = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    return find_anomalies(
        store, filters={}, by="use_case", hourly=False, at=at, tz=settings.timezone, currency=currency
    ).anomalies
