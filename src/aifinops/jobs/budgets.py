"""Evaluating budgets and raising their alerts: for `aifinops budgets check`, and on each turn of serve's
schedule (:mod:`aifinops.jobs.serve_jobs`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import httpx

from aifinops.config import Settings
from aifinops.engine.budgets import Budget, BudgetStatus
from aifinops.errors import ValidationError
from aifinops.jobs.alerts import Channel, Notifier, channel_from_mapping, raise_alerts
from aifinops.queries.budgets import budget_statuses
from aifinops.store import Store
from aifinops.store.budgets import BudgetStore, parse_budget

__all__ = ["configured_budgets", "configured_channels", "evaluate_and_alert"]


def configured_budgets(settings: Settings) -> list[Budget]:
    """The budgets of the configuration file (``budgets:``), validated; field errors name the entry."""
    out = []
    for index, entry in enumerate(settings.budgets):
        try:
            out.append(parse_budget(dict(entry)))
        except ValidationError as exc:
            raise ValidationError(f"budgets[{index}]: {exc}", field=f"budgets[{index}].{exc.field}") from exc
    return out


def configured_channels(settings: Settings) -> list[Channel]:
    """The alert channels of the configuration file (``alert_channels:``)."""
    default = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    return [
        channel_from_mapping(dict(e), where=f"alert_channels[{i}]", default_secret=default)
        for i, e in enumerate(settings.alert_channels)
    ]


def evaluate_and_alert(
    settings: Settings, store: Store, *, as_of: dt.datetime, notify: bool
) -> tuple[list[BudgetStatus], Sequence[Any]]:
    """Every budget's status at ``as_of``; with ``notify``, newly crossed thresholds fire once per period."""
    budgets = BudgetStore(store)
    budgets.sync_config(configured_budgets(settings))
    statuses = budget_statuses(store, default_tz=settings.timezone, as_of=as_of)
    if not notify:
        return statuses, []
    channels = configured_channels(settings)
    with httpx.Client(timeout=10.0) as client:
        fired = raise_alerts(
            budgets, statuses, notifier=Notifier(client, channels) if channels else None, as_of=as_of
        )
    return statuses, fired
