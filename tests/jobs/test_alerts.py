"""Alert channels against a real local HTTP receiver that checks each wire shape and the HMAC signature."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest

from aifinops.api.app import create_app
from aifinops.api.metrics import StoreCollector
from aifinops.config import load_settings
from aifinops.domain import DIMENSIONS, Basis, Money, to_nanos
from aifinops.engine.budgets import Action, Alert, Enforcement, Threshold
from aifinops.errors import ValidationError
from aifinops.jobs.alerts import (
    SIGNATURE_HEADER,
    Channel,
    ChannelKind,
    Notifier,
    channel_from_mapping,
    notification_for_alert,
    raise_alerts,
)
from aifinops.queries.budgets import budget_statuses
from aifinops.sources._http import RetryPolicy
from aifinops.store import Store
from aifinops.store.budgets import BudgetStore
from aifinops.store.tables import usage_rollup

SECRET = "receiver-shared-secret"
NOW = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)


def _teams_problem(body: dict[str, Any]) -> str | None:
    if body.get("type") != "message" or len(body.get("attachments", [])) != 1:
        return "expected a message activity with one attachment"
    attachment = body["attachments"][0]
    card = attachment.get("content", {})
    if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
        return "attachment is not an adaptive card"
    if card.get("type") != "AdaptiveCard" or tuple(map(int, card["version"].split("."))) < (1, 4):
        return "content is not an AdaptiveCard ≥ 1.4"
    kinds = [element["type"] for element in card["body"]]
    return None if kinds[0] == "TextBlock" and "FactSet" in kinds else f"unexpected card body {kinds}"


def _slack_problem(body: dict[str, Any]) -> str | None:
    if not isinstance(body.get("text"), str) or not body.get("blocks"):
        return "invalid_payload"
    header = body["blocks"][0]
    if (
        header["type"] != "header"
        or header["text"]["type"] != "plain_text"
        or len(header["text"]["text"]) > 150
    ):
        return "invalid_blocks"
    fields = [b for b in body["blocks"] if "fields" in b]
    return None if fields and len(fields[0]["fields"]) <= 10 else "invalid_blocks"


class Receiver(BaseHTTPRequestHandler):
    """Speaks like each service: 200 on a valid payload, 400 with the reason otherwise."""

    received: list[tuple[str, dict[str, Any]]]
    flaky_failures: list[int]

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers["content-length"]))
        body = json.loads(raw)
        self.received.append((self.path, body))
        if self.path == "/broken":
            return self._answer(500, "upstream down")
        if self.path == "/flaky" and self.flaky_failures:
            self.flaky_failures.pop()
            return self._answer(503, "try later")
        if self.path == "/hook":
            expected = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(self.headers.get(SIGNATURE_HEADER, ""), expected):
                return self._answer(401, "bad signature")
        problem = {"/teams": _teams_problem, "/slack": _slack_problem}.get(self.path, lambda _: None)(body)
        self._answer(400, problem) if problem else self._answer(200, "ok")

    def _answer(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[Receiver]]]:
    handler = type("BoundReceiver", (Receiver,), {"received": [], "flaky_failures": [1]})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()
    thread.join()


def alert(ratio: str = "0.85") -> Alert:
    return Alert(
        budget="contoso-summary",
        threshold=Threshold(Decimal(80)),
        period_key="2026-11",
        observed=Money(Decimal("850.4"), "EUR", Basis.NOWCAST),
        amount=Money(Decimal(1000), "EUR", Basis.NOWCAST),
        ratio=Decimal(ratio),
        fired_at=NOW,
        scope={"tenant": ("contoso",)},
        enforcement=Enforcement(Action.DOWNGRADE, "gpt-4o-mini"),
    )


def notifier(client: httpx.Client, channels: list[Channel], sleeps: list[float]) -> Notifier:
    return Notifier(
        client, channels, policy=RetryPolicy(max_attempts=3, sleep=sleeps.append), clock=lambda: NOW
    )


def test_every_channel_delivers_its_real_shape(receiver: tuple[str, type[Receiver]]) -> None:
    base, handler = receiver
    channels = [
        Channel("ops-hook", ChannelKind.WEBHOOK, f"{base}/hook", SECRET),
        Channel("finops-teams", ChannelKind.TEAMS, f"{base}/teams"),
        Channel("finops-slack", ChannelKind.SLACK, f"{base}/slack"),
    ]
    with httpx.Client(timeout=5) as client:
        deliveries = notifier(client, channels, []).send(notification_for_alert(alert(), alert_id="a-1"))
    assert [(d.channel, d.status, d.http_status, d.attempts) for d in deliveries] == [
        ("ops-hook", "delivered", 200, 1),
        ("finops-teams", "delivered", 200, 1),
        ("finops-slack", "delivered", 200, 1),
    ]
    hook = dict(handler.received)["/hook"]
    assert hook["id"] == "a-1" and hook["budget"] == "contoso-summary"
    assert hook["observed"] == {"amount": "850.4", "currency": "EUR", "basis": "nowcast"}
    assert hook["threshold"] == {"percent": "80", "type": "actual"} and hook["downgrade_to"] == "gpt-4o-mini"
    facts = dict(
        (f["title"], f["value"])
        for f in dict(handler.received)["/teams"]["attachments"][0]["content"]["body"][2]["facts"]
    )
    assert facts["Actual spend"] == "850.40 EUR" and facts["Gateway action"] == "downgrade → gpt-4o-mini"
    assert "85.0% of 1000.00 EUR" in dict(handler.received)["/slack"]["text"]


def test_a_wrong_secret_is_refused_by_the_receiver(receiver: tuple[str, type[Receiver]]) -> None:
    base, _ = receiver
    with httpx.Client(timeout=5) as client:
        (delivery,) = notifier(
            client, [Channel("hook", ChannelKind.WEBHOOK, f"{base}/hook", "wrong")], []
        ).send(notification_for_alert(alert(), alert_id="a-2"))
    assert (delivery.status, delivery.http_status, delivery.attempts) == ("failed", 401, 1)
    assert delivery.error is not None and "bad signature" in delivery.error


def test_a_failing_channel_is_retried_recorded_and_does_not_block_the_others(
    receiver: tuple[str, type[Receiver]],
) -> None:
    base, handler = receiver
    channels = [
        Channel("down", ChannelKind.SLACK, f"{base}/broken"),
        Channel("unreachable", ChannelKind.TEAMS, "http://127.0.0.1:9/teams"),  # discard port: refused
        Channel("flaky", ChannelKind.TEAMS, f"{base}/flaky"),
        Channel("slack", ChannelKind.SLACK, f"{base}/slack"),
    ]
    sleeps: list[float] = []
    with httpx.Client(timeout=2) as client:
        deliveries = notifier(client, channels, sleeps).send(
            notification_for_alert(alert("1.2"), alert_id="a-3")
        )
    outcome = {d.channel: (d.status, d.http_status, d.attempts) for d in deliveries}
    assert outcome == {
        "down": ("failed", 500, 3),
        "unreachable": ("failed", None, 3),
        "flaky": ("delivered", 200, 2),
        "slack": ("delivered", 200, 1),
    }
    assert sleeps == [0.5, 1.0, 0.5, 1.0, 0.5]  # exponential back-off, never a real wait in tests
    assert [p for p, _ in handler.received].count("/broken") == 3


def test_channel_configuration_errors_name_the_field() -> None:
    with pytest.raises(ValidationError, match="kind"):
        channel_from_mapping({"name": "x", "kind": "email", "url": "https://x"})
    with pytest.raises(ValidationError, match="secret"):
        channel_from_mapping({"name": "x", "kind": "webhook", "url": "https://x"})
    assert "example" not in repr(
        channel_from_mapping({"name": "t", "kind": "teams", "url": "https://example/t"})
    )


def _api(store: Store) -> TestClient:
    app = create_app(load_settings(timezone="Europe/Paris"), store=store)
    return TestClient(app)


def test_alerts_api_shows_each_channel_delivery_and_metrics_show_budgets(
    sqlite_store: Store, receiver: tuple[str, type[Receiver]]
) -> None:
    base, _ = receiver
    now = dt.datetime.now(dt.UTC)
    with sqlite_store.session() as conn:
        conn.execute(
            sa.insert(usage_rollup).values(
                hour=int(now.timestamp() // 3600),  # the current hour: always inside the current period
                kind="chat",
                status="ok",
                currency="USD",
                events=1,
                requests=1,
                cost_nanos=to_nanos(Decimal("75")),
                **{d: "contoso" if d == "tenant" else "" for d in DIMENSIONS},
            )
        )
    with _api(sqlite_store) as api:
        created = api.post(
            "/api/budgets",
            json={
                "name": "contoso",
                "scope": {"tenant": "contoso"},
                "amount": "100.00",
                "currency": "USD",
                "thresholds": [{"percent": "50"}, {"percent": "100"}],
                "action": "block",
            },
        )
        assert created.status_code == 201, created.text
        assert (
            api.post(
                "/api/budgets",
                json={"name": "x", "amount": "1", "currency": "USD", "scope": {"colour": "red"}},
            ).json()["errors"][0]["field"]
            == "scope"
        )
        status = api.get("/api/budgets/status").json()["budgets"][0]
        assert status["spend"] == {"amount": "75", "currency": "USD", "basis": "nowcast"}
        assert status["crossed"] == ["actual:50"] and status["exceeded"] is False

        statuses = budget_statuses(sqlite_store, default_tz="Europe/Paris", as_of=now)
        channels = [
            Channel("hook", ChannelKind.WEBHOOK, f"{base}/hook", SECRET),
            Channel("down", ChannelKind.TEAMS, f"{base}/broken"),
        ]
        with httpx.Client(timeout=5) as client:
            raise_alerts(
                BudgetStore(sqlite_store), statuses, notifier=notifier(client, channels, []), as_of=now
            )
        (alert,) = api.get("/api/alerts").json()
        assert (alert["budget"], alert["threshold"], alert["delivery_status"]) == (
            "contoso",
            "actual:50",
            "failed",
        )
        assert [(d["channel"], d["status"], d["attempts"]) for d in alert["deliveries"]] == [
            ("hook", "delivered", 1),
            ("down", "failed", 3),
        ]

    registry = CollectorRegistry(auto_describe=False)
    metrics = load_settings(metrics={"refresh_seconds": 0}).metrics
    registry.register(StoreCollector(sqlite_store, metrics, timezone="Europe/Paris"))
    text = generate_latest(registry).decode()
    assert 'aifinops_budget_spend_ratio{basis="nowcast",budget="contoso",currency="USD"' in text
    assert "aifinops_budget_active_alerts{" in text and "} 1.0" in text
