"""Alert delivery: budget alerts rendered for a generic webhook, Microsoft Teams and Slack, sent with retries.

Wire shapes:

- generic webhook: the alert as JSON (money as strings); header ``X-Aifinops-Signature: sha256=<hex>`` is
  the HMAC-SHA256 of the raw body with the channel's secret, so a receiver verifies before parsing.
- Teams (incoming webhook or a Workflows "post to a channel when a webhook request is received" flow): a
  ``message`` activity with one Adaptive Card 1.4 attachment (``application/vnd.microsoft.card.adaptive``).
- Slack incoming webhook: ``{"text": <fallback>, "blocks": [header, section, fields]}``.

Each channel is tried on its own; a channel that fails (after retrying 429, 5xx and transport errors with
back-off) is recorded as failed and never stops the others or the evaluation that raised the alert.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import httpx

from aifinops.domain import plain
from aifinops.engine.budgets import Alert, BudgetStatus, ThresholdType, alerts_to_fire, scope_label
from aifinops.errors import AifinopsError, ValidationError
from aifinops.sources._http import RetryPolicy, send_with_retry
from aifinops.store.budget_queries import fired_thresholds
from aifinops.store.budgets import BudgetStore, DeliveryRecord

__all__ = [
    "SIGNATURE_HEADER",
    "Channel",
    "ChannelKind",
    "Delivery",
    "Notification",
    "Notifier",
    "channel_from_mapping",
    "notification_for_alert",
    "raise_alerts",
    "sign",
    "slack_message",
    "teams_message",
    "webhook_body",
]

SIGNATURE_HEADER = "X-Aifinops-Signature"
_ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
_SLACK_HEADER_MAX = 150  # Slack rejects header blocks whose plain_text exceeds 150 characters


class ChannelKind(StrEnum):
    WEBHOOK = "webhook"
    TEAMS = "teams"
    SLACK = "slack"


@dataclass(frozen=True, slots=True)
class Channel:
    """Where alerts go. Webhook URLs of Teams and Slack are credentials: they never appear in reprs."""

    name: str
    kind: ChannelKind
    url: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)  # HMAC key of the generic webhook

    def __post_init__(self) -> None:
        if not self.url.startswith(("https://", "http://")):
            raise ValidationError(f"alert channel {self.name!r}: url must start with https://", field="url")
        if self.kind is ChannelKind.WEBHOOK and not self.secret:
            raise ValidationError(
                f"alert channel {self.name!r}: a webhook channel needs 'secret' to sign its payloads "
                "(receivers verify the X-Aifinops-Signature header with it)",
                field="secret",
            )


def channel_from_mapping(
    data: Mapping[str, Any], *, where: str = "alert_channels", default_secret: str | None = None
) -> Channel:
    """A Channel from configuration ``{name, kind, url, secret?}``; ValidationError names the field.

    A webhook without its own ``secret`` signs with ``default_secret`` (the ``webhook_secret`` setting).
    """
    try:
        kind = ChannelKind(str(data.get("kind", "")))
    except ValueError as exc:
        raise ValidationError(
            f"{where}.kind: {data.get('kind')!r} is not one of {[k.value for k in ChannelKind]}", field="kind"
        ) from exc
    for key in ("name", "url"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ValidationError(f"{where}.{key}: required text", field=key)
    secret = data.get("secret") or (default_secret if kind is ChannelKind.WEBHOOK else None)
    return Channel(name=data["name"], kind=kind, url=data["url"], secret=str(secret) if secret else None)


@dataclass(frozen=True, slots=True)
class Notification:
    """What to say, independent of the channel: an id (idempotency key for receivers), text and facts."""

    id: str
    title: str
    summary: str
    facts: tuple[tuple[str, str], ...]
    data: Mapping[str, Any]  # the generic webhook's JSON object
    severity: str = "warning"


def notification_for_alert(alert: Alert, *, alert_id: str) -> Notification:
    """The notification of one fired budget threshold."""
    kind = "actual" if alert.threshold.type is ThresholdType.ACTUAL else "forecast"
    severity = "critical" if alert.ratio >= 1 else "warning"
    facts = (
        ("Budget", alert.budget),
        ("Scope", scope_label(alert.scope)),
        ("Period", alert.period_key),
        ("Threshold", f"{alert.threshold.percent}% of {kind}"),
        (f"{kind.capitalize()} spend", f"{alert.observed.quantized()} {alert.observed.currency}"),
        ("Budget amount", f"{alert.amount.quantized()} {alert.amount.currency}"),
        ("Basis", alert.observed.basis.value),
        (
            "Gateway action",
            alert.enforcement.action.value
            + (f" → {alert.enforcement.downgrade_to}" if alert.enforcement.downgrade_to else ""),
        ),
    )
    data = {
        "id": alert_id,
        "type": "budget.threshold_crossed",
        "budget": alert.budget,
        "scope": {k: list(v) for k, v in alert.scope.items()},
        "period": alert.period_key,
        "threshold": {"percent": str(alert.threshold.percent), "type": kind},
        "observed": {
            "amount": str(alert.observed.amount),
            "currency": alert.observed.currency,
            "basis": alert.observed.basis.value,
        },
        "budget_amount": {"amount": plain(alert.amount.amount), "currency": alert.amount.currency},
        "ratio": str(alert.ratio),
        "action": alert.enforcement.action.value,
        "downgrade_to": alert.enforcement.downgrade_to,
        "fired_at": alert.fired_at.isoformat(),
        "severity": severity,
        "summary": alert.summary,
    }
    title = f"Budget {alert.budget}: {kind} spend at {(alert.ratio * 100).quantize(1)}% ({alert.period_key})"
    return Notification(
        id=alert_id, title=title, summary=alert.summary, facts=facts, data=data, severity=severity
    )


def sign(body: bytes, secret: str) -> str:
    """The signature header value: ``sha256=`` + hex HMAC-SHA256 of the raw body.

    >>> sign(b"{}", "s3cret")
    'sha256=adbde1ce40c89c14215687d5d762a47df6dfaefcfad61e2e86718ffc8498571b'
    """
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_body(notification: Notification) -> dict[str, Any]:
    return dict(notification.data)


def teams_message(notification: Notification) -> dict[str, Any]:
    """A Teams ``message`` activity carrying one Adaptive Card (schema 1.4, accepted by Workflows)."""
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": [
            {
                "type": "TextBlock",
                "text": notification.title,
                "size": "Large",
                "weight": "Bolder",
                "wrap": True,
                "color": "Attention" if notification.severity == "critical" else "Warning",
            },
            {"type": "TextBlock", "text": notification.summary, "wrap": True},
            {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in notification.facts]},
        ],
    }
    return {
        "type": "message",
        "attachments": [{"contentType": _ADAPTIVE_CARD, "contentUrl": None, "content": card}],
    }


def slack_message(notification: Notification) -> dict[str, Any]:
    """A Slack incoming-webhook message: ``text`` is the notification fallback, ``blocks`` the layout."""
    header = notification.title
    if len(header) > _SLACK_HEADER_MAX:
        header = header[: _SLACK_HEADER_MAX - 1] + "…"
    return {
        "text": notification.summary,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": header}},
            {"type": "section", "text": {"type": "mrkdwn", "text": notification.summary}},
            # Slack allows at most 10 fields per section.
            {
                "type": "section",
                "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in notification.facts[:10]],
            },
        ],
    }


_RENDERERS: dict[ChannelKind, Callable[[Notification], dict[str, Any]]] = {
    ChannelKind.WEBHOOK: webhook_body,
    ChannelKind.TEAMS: teams_message,
    ChannelKind.SLACK: slack_message,
}


@dataclass(frozen=True, slots=True)
class Delivery:
    """The outcome of sending one notification to one channel."""

    notification_id: str
    channel: str
    kind: ChannelKind
    status: str  # "delivered" | "failed"
    attempts: int
    http_status: int | None
    error: str | None
    finished_at: dt.datetime


class Notifier:
    """Sends notifications to every channel through one injected ``httpx.Client``."""

    def __init__(
        self,
        client: httpx.Client,
        channels: Sequence[Channel],
        *,
        policy: RetryPolicy | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.client, self.channels, self.clock = client, tuple(channels), clock
        self.policy = policy or RetryPolicy(max_attempts=4, backoff_base=1.0, backoff_cap=15.0, max_wait=30.0)

    def send(self, notification: Notification) -> list[Delivery]:
        """One Delivery per channel; never raises for a channel's failure."""
        return [self._send_one(channel, notification) for channel in self.channels]

    def _request(self, channel: Channel, notification: Notification) -> httpx.Request:
        body = json.dumps(
            _RENDERERS[channel.kind](notification), separators=(",", ":"), ensure_ascii=False
        ).encode()
        headers = {"content-type": "application/json", "user-agent": "aifinops-alerts"}
        if channel.kind is ChannelKind.WEBHOOK and channel.secret:
            headers[SIGNATURE_HEADER] = sign(body, channel.secret)
            headers["X-Aifinops-Event"] = str(notification.data.get("type", "alert"))
        return self.client.build_request("POST", channel.url, content=body, headers=headers)

    def _send_one(self, channel: Channel, notification: Notification) -> Delivery:
        sleeps: list[float] = []

        def counting_sleep(seconds: float) -> None:
            sleeps.append(seconds)
            self.policy.sleep(seconds)

        status, error = None, None
        try:
            response = send_with_retry(
                self.client, self._request(channel, notification), replace(self.policy, sleep=counting_sleep)
            )
            status = response.status_code
            if not response.is_success:
                error = f"HTTP {status}: {response.text[:200]}"
        except (AifinopsError, httpx.HTTPError) as exc:
            error = f"{exc.__class__.__name__}: {str(exc)[:300]}"
        return Delivery(
            notification_id=notification.id,
            channel=channel.name,
            kind=channel.kind,
            status="delivered" if error is None else "failed",
            attempts=len(sleeps) + 1,
            http_status=status,
            error=error,
            finished_at=self.clock(),
        )


def raise_alerts(
    budget_store: BudgetStore,
    statuses: Sequence[BudgetStatus],
    *,
    notifier: Notifier | None,
    as_of: dt.datetime,
) -> list[int]:
    """Fire each newly crossed threshold once, notify every channel and record the deliveries.

    The fired state is written before any channel is tried, so a crash or a failing channel never causes a
    second notification of the same threshold in the same period; returns the ids of the new alerts.
    """
    fired = fired_thresholds(budget_store.store, (s.period.key for s in statuses))
    notifications = [
        (
            alert,
            notification_for_alert(
                alert, alert_id=f"{alert.budget}:{alert.threshold.key}:{alert.period_key}"
            ),
        )
        for status in statuses
        for alert in alerts_to_fire(
            status, fired=fired.get((status.budget.name, status.period.key), set()), as_of=as_of
        )
    ]
    ids = budget_store.record_fired([(alert, n.data) for alert, n in notifications])
    new_ids = []
    for (_, notification), alert_id in zip(notifications, ids, strict=True):
        if alert_id is None:  # another evaluator fired it first
            continue
        new_ids.append(alert_id)
        if notifier is not None:
            budget_store.record_deliveries(
                alert_id,
                [
                    DeliveryRecord(
                        d.channel, d.kind.value, d.status, d.attempts, d.http_status, d.error, d.finished_at
                    )
                    for d in notifier.send(notification)
                ],
            )
    return new_ids
