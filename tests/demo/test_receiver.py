"""The demo's alert receiver: signed alerts are accepted, forged ones refused."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import httpx

from aifinops.demo.receiver import AlertReceiver
from aifinops.domain import Basis, Money
from aifinops.engine.budgets import Alert, Enforcement, Threshold
from aifinops.jobs.alerts import SIGNATURE_HEADER, Channel, ChannelKind, Notifier, notification_for_alert
from aifinops.sources._http import RetryPolicy


def _alert() -> Alert:
    return Alert(
        budget="b",
        scope={},
        period_key="2026-10",
        threshold=Threshold(Decimal(80)),
        observed=Money(Decimal(85), "USD", Basis.ACTUAL),
        amount=Money(Decimal(100), "USD", Basis.ACTUAL),
        ratio=Decimal("0.85"),
        enforcement=Enforcement(),
        fired_at=dt.datetime(2026, 10, 31, tzinfo=dt.UTC),
    )


def test_the_receiver_accepts_signed_alerts_and_refuses_forged_ones() -> None:
    with AlertReceiver("s3cret") as receiver, httpx.Client() as client:
        channel = Channel("rx", ChannelKind.WEBHOOK, receiver.url, "s3cret")
        policy = RetryPolicy(max_attempts=1)
        (ok,) = Notifier(client, [channel], policy=policy).send(
            notification_for_alert(_alert(), alert_id="a1")
        )
        forged = client.post(receiver.url, content=b"{}", headers={SIGNATURE_HEADER: "sha256=00"})
    assert (ok.status, ok.http_status, forged.status_code) == ("delivered", 204, 401)
    assert [(r.valid, r.body.get("id")) for r in receiver.received] == [(True, "a1"), (False, None)]
