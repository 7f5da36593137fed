"""The emulator's Logs query API on the wire: the response shape and cell encodings of the real service,
and the queries it refuses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import httpx
import pytest

from aifinops.emulator import EmulatorState, SyncASGITransport, create_emulator
from aifinops.emulator.log_tables import app_event, log_row
from aifinops.sources.log_queries import OUTCOME_EVENTS

WS = "ws-1"
T = dt.datetime(2026, 11, 2, 10, 0, 0, 900000, tzinfo=dt.UTC)


@pytest.fixture
def http() -> Iterator[tuple[httpx.Client, EmulatorState, str]]:
    state = EmulatorState()
    token = state.issue_token()
    state.add_log_rows(WS, [app_event(T, name="TaskCompleted", properties={"task_id": "t1", "n": 2})])
    with httpx.Client(
        transport=SyncASGITransport(create_emulator(state)), base_url="https://api.loganalytics.io"
    ) as c:
        yield c, state, token


def _post(c: httpx.Client, token: str, query: str, timespan: str | None = None) -> httpx.Response:
    body = {"query": query, "timespan": timespan, "workspaces": None}
    return c.post(f"/v1/workspaces/{WS}/query", json=body, headers={"Authorization": f"Bearer {token}"})


def test_an_answer_has_the_logs_query_wire_shape(http: tuple[httpx.Client, EmulatorState, str]) -> None:
    c, _, token = http
    kql = OUTCOME_EVENTS.render(
        T - dt.timedelta(hours=1), T + dt.timedelta(hours=1), limit=10, params={"event": "TaskCompleted"}
    )
    r = _post(c, token, kql, "2026-11-02T00:00:00.000Z/2026-11-03T00:00:00.000Z")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json; charset=utf-8"
    (table,) = r.json()["tables"]
    assert table["name"] == "PrimaryResult"
    types = {col["name"]: col["type"] for col in table["columns"]}
    assert (
        types["TimeGenerated"] == "datetime"
        and types["Properties"] == "dynamic"
        and types["ItemCount"] == "int"
    )
    (row,) = table["rows"]
    cells = dict(zip(types, row, strict=True))
    assert cells["TimeGenerated"] == "2026-11-02T10:00:00.9Z"  # trailing zeros trimmed
    assert cells["Properties"] == '{"task_id":"t1","n":2}'  # dynamic: JSON text in a string
    assert cells["Measurements"] is None and cells["OperationId"] == ""  # empty dynamic null, strings never


def test_the_timespan_is_intersected_with_the_query_window(
    http: tuple[httpx.Client, EmulatorState, str],
) -> None:
    c, _, token = http
    kql = OUTCOME_EVENTS.render(
        T - dt.timedelta(hours=1), T + dt.timedelta(hours=1), limit=10, params={"event": "TaskCompleted"}
    )
    r = _post(c, token, kql, "2026-11-01T00:00:00.000Z/PT3600.0S")
    assert r.json()["tables"][0]["rows"] == []


def test_queries_it_does_not_know_unknown_workspaces_and_missing_tokens(
    http: tuple[httpx.Client, EmulatorState, str],
) -> None:
    c, _, token = http
    r = _post(c, token, "AppEvents | take 10")
    assert r.status_code == 400 and r.json()["error"]["code"] == "BadArgumentError"
    r = c.post("/v1/workspaces/nope/query", json={"query": "x"}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 404
    assert _post(c, "forged", "AppEvents").status_code == 401


def test_fixture_rows_cannot_name_columns_a_table_does_not_have() -> None:
    with pytest.raises(ValueError, match="AppEvents has no column"):
        log_row("AppEvents", customDimensions={})  # the classic name, not the workspace table's
