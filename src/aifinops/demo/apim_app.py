"""The demo's API Management app: ``hr-assistant`` sends its traffic only through API Management and
reports its outcomes only as Application Insights custom events — no SDK, no gateway, no code change.

:func:`collect_apim_app` simulates its month as the rows Azure would log (``ApiManagementGatewayLlmLog`` and
``ApiManagementGatewayLogs`` per request, with the HR ticket id in a logged request header; an ``AppEvents``
``TicketClosed`` event per ticket; the token metrics API Management emits; the workspace's ``Usage``), serves
them from the Azure emulator's Log Analytics query API, and reads them back with the real collector (the
``apim``, ``appinsights`` and ``loganalytics`` sources), so the app shows up with cost per successful task.
Deterministic by seed; running it twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from aifinops.config import ApimMapping, LogsSettings, Settings
from aifinops.demo.estate import estate
from aifinops.demo.finance import emulator_azure
from aifinops.demo.simulation import arm_id
from aifinops.emulator import EmulatorState, SyncASGITransport, azure_transport, create_emulator
from aifinops.emulator.log_tables import app_event, app_metric, gateway_log, llm_log_rows, usage_row
from aifinops.errors import SourceError
from aifinops.jobs.collect import build_collector
from aifinops.sources.azure_auth import build_credential
from aifinops.store import Store

__all__ = ["APIM_APP", "APIM_USE_CASE", "WORKSPACE_ID", "ApimAppMonth", "collect_apim_app"]

APIM_APP, APIM_USE_CASE, APIM_TEAM = "hr-assistant", "policy-qa", "people"
#: The demo workspace's GUID (the estate's ``law-genai-prod``).
WORKSPACE_ID = "0c5d7a2e-4b1f-4e8a-9d3c-6f2a1b7e9d40"
_SUBSCRIPTION = "hr-assistant-prod"  # the API Management subscription the app calls with
_TICKET_HEADER = "x-hr-ticket-id"  # the customer's own header, logged by the API diagnostic
_DEPLOYMENT, _MODEL = "gpt-4o-mini-glbl", "gpt-4o-mini-2024-07-18"
_TASKS_PER_WEEKDAY = 60
_CLIENT = "aifinops-demo-logs-reader"


@dataclass(frozen=True, slots=True)
class ApimAppMonth:
    """What the demo logged for the app and what the collector read back."""

    tickets: int
    requests: int
    events: int  # usage events stored, new this run
    outcomes: int


def logs_settings() -> LogsSettings:
    """How the demo reads the workspace: the API Management mapping, the ticket header, the event."""
    return LogsSettings(
        workspaces=[WORKSPACE_ID],
        window_hours=24,
        apim_map=[
            ApimMapping(
                subscription=_SUBSCRIPTION,
                dimensions={
                    "app": APIM_APP,
                    "use_case": APIM_USE_CASE,
                    "team": APIM_TEAM,
                    "environment": "prod",
                },
                deployment_type="global_standard",
                region="eastus2",
            )
        ],
        task_id_headers=["x-aifinops-task-id", _TICKET_HEADER],
        outcome_event="TicketClosed",
        outcome_properties={
            "task_id": "ticketId",
            "outcome": "resolution",
            "value": "minutesSaved",
            "unit": "unit",
        },
        outcome_values={"answered": "succeeded", "unanswered": "failed", "sent_to_hr": "escalated"},
    )


def _days(year: int, month: int) -> Iterator[dt.date]:
    day = dt.date(year, month, 1)
    while day.month == month:
        yield day
        day += dt.timedelta(days=1)


_APIM = arm_id("Microsoft.ApiManagement/service", f"apim-{APIM_APP}")
_APPI = arm_id("Microsoft.Insights/components", f"appi-{APIM_APP}")


def _ticket_rows(
    rng: random.Random, ticket: str, at: dt.datetime, tokens: dict[tuple[dt.datetime, str], float]
) -> list[dict[str, Any]]:
    """One ticket: its requests through API Management (LLM and gateway log rows) and its closing event;
    the tokens API Management's metric policy counts are added to ``tokens`` per hour."""
    rows: list[dict[str, Any]] = []
    for step in range(rng.randint(1, 3)):
        cid, ts = f"{ticket}-{step}", at + dt.timedelta(seconds=20 * step)
        prompt, completion = rng.randint(1500, 4000), rng.randint(150, 450)
        long = rng.random() < 0.2  # a long policy document: the message spans several rows
        rows += llm_log_rows(
            cid,
            ts,
            deployment=_DEPLOYMENT,
            model=_MODEL,
            prompt_tokens=prompt,
            completion_tokens=completion,
            resource_id=_APIM,
            chunks=4 if long else 1,
            stream=rng.random() < 0.5,
        )
        headers = {_TICKET_HEADER: ticket}
        rows.append(gateway_log(cid, ts, subscription=_SUBSCRIPTION, headers=headers, resource_id=_APIM))
        tokens[(ts.replace(minute=0, second=0), "Prompt Tokens")] += prompt
        tokens[(ts.replace(minute=0, second=0), "Completion Tokens")] += completion
    resolution = rng.choices(("answered", "unanswered", "sent_to_hr"), weights=(80, 12, 8))[0]
    props = {"ticketId": ticket, "resolution": resolution}
    if resolution == "answered":
        props |= {"minutesSaved": str(rng.randint(5, 20)), "unit": "minutes_saved"}
    ended = at + dt.timedelta(minutes=2)
    rows.append(
        app_event(ended, name="TicketClosed", properties=props, AppRoleName=APIM_APP, _ResourceId=_APPI)
    )
    return rows


def _workspace_rows(
    rng: random.Random, year: int, month: int, tokens: dict[tuple[dt.datetime, str], float]
) -> list[dict[str, Any]]:
    """The token metrics API Management emitted, and the workspace's daily billable volume per table."""
    dims = {"Subscription ID": _SUBSCRIPTION, "API ID": "azure-openai", "Deployment": _DEPLOYMENT}
    rows = [
        app_metric(hour, name=name, total=total, count=1, dimensions=dims, _ResourceId=_APPI)
        for (hour, name), total in sorted(tokens.items())
    ]
    workspace = estate()["logs"].resource_id
    volumes = (
        ("ApiManagementGatewayLlmLog", 900.0),
        ("ApiManagementGatewayLogs", 350.0),
        ("AppEvents", 20.0),
    )
    for day in _days(year, month):
        at = dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.UTC)
        for table, mb in volumes:
            rows.append(
                usage_row(at, data_type=table, megabytes=mb * rng.uniform(0.8, 1.2), workspace=workspace)
            )
    return rows


def _month_rows(year: int, month: int, seed: int, scale: float) -> tuple[list[dict[str, Any]], int, int]:
    """Every row Azure logs for the app's month, the tickets and the requests."""
    rng = random.Random(seed * 7919 + 11)
    rows: list[dict[str, Any]] = []
    tokens: dict[tuple[dt.datetime, str], float] = defaultdict(float)
    tickets = 0
    for day in _days(year, month):
        for n in range(max(1, round(_TASKS_PER_WEEKDAY * scale * (0.3 if day.weekday() >= 5 else 1.0)))):
            at = dt.datetime(
                day.year, day.month, day.day, rng.randint(7, 18), rng.randrange(60), tzinfo=dt.UTC
            )
            rows += _ticket_rows(rng, f"HR-{day:%Y%m%d}-{n:04d}", at, tokens)
            tickets += 1
    requests = sum(1 for r in rows if r["Type"] == "ApiManagementGatewayLogs")
    return rows + _workspace_rows(rng, year, month, tokens), tickets, requests


def collect_apim_app(
    store: Store, settings: Settings, *, year: int, month: int, seed: int, scale: float = 1.0
) -> ApimAppMonth:
    """Log the app's month in the emulator's workspace; collect it with the real Log Analytics client."""
    rows, tickets, requests = _month_rows(year, month, seed, scale)
    secret = secrets.token_urlsafe(24)
    state = EmulatorState(client_secrets={_CLIENT: secret})
    state.add_log_rows(WORKSPACE_ID, rows)
    azure = emulator_azure(settings.azure, client_id=_CLIENT, secret=secret, logs=logs_settings())
    first = dt.date(year, month, 1)
    following = dt.date(year + (month == 12), month % 12 + 1, 1)
    with httpx.Client(transport=SyncASGITransport(create_emulator(state)), timeout=60.0) as http:
        transport = azure_transport(http)
        credential = build_credential(azure, transport=transport)
        collector = build_collector(
            settings.model_copy(update={"azure": azure}),
            store,
            http=http,
            credential=credential,
            azure_transport=transport,
        )
        summary = collector.collect(first, following, sources=["apim", "appinsights", "loganalytics"])
    if not summary.ok:
        raise SourceError(
            "demo collection from the emulated Log Analytics workspace failed: " + "; ".join(summary.errors)
        )
    by_query = {o.target.rsplit(" ", 1)[-1]: o.records for o in summary.outcomes}
    return ApimAppMonth(
        tickets, requests, by_query.get("apim_requests", 0) - 0, by_query.get("outcome_events", 0)
    )
