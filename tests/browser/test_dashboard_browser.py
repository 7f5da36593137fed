"""The dashboard in a real headless Chromium over a demo month: KPIs equal the API, no console errors.

Chromium (Debian package ``chromium``) is driven through its DevTools protocol over a WebSocket, against
the app served by uvicorn on 127.0.0.1 with a random port.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import itertools
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.sync.client import ClientConnection, connect

from aifinops.api.app import create_app
from aifinops.config import load_settings
from aifinops.demo.month import load_demo_month
from aifinops.domain import Basis, CostRecord, Outcome, TaskOutcome
from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store
from aifinops.store.cost_records import CostRecordStore
from aifinops.store.keys import KeyStore
from aifinops.store.prices import PriceStore
from tests.factories import PRICE_START, T0, event, gpt4o_prices

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
)


class Page:
    """One DevTools session on a page: commands answered by id, events kept for inspection."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws, self.ids = ws, itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self.ids)
        self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=30))
            if message.get("id") == call_id:
                if "error" in message:
                    raise AssertionError(f"{method} failed: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self.events.append(message)

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression!r} threw {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str, *, width: int, height: int = 900) -> None:
        """Load ``url`` at a viewport width and wait until the dashboard has drawn its data."""
        self.events.clear()
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.evaluate("document.body && document.body.dataset.state") in ("ready", "error"):
                time.sleep(0.3)  # let the resize-debounced chart redraw settle before a screenshot
                return
            time.sleep(0.1)
        raise AssertionError(f"the dashboard at {url} did not finish loading within 30 s")

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        path.write_bytes(base64.b64decode(data))

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads (CSP violations, 404s) seen so far."""
        self.call("Runtime.evaluate", expression="1")  # drain events already sent
        found = []
        for e in self.events:
            p = e.get("params", {})
            if e.get("method") == "Runtime.exceptionThrown":
                found.append(str(p["exceptionDetails"]))
            elif e.get("method") == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
                found.append(" ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
            elif e.get("method") == "Log.entryAdded" and p["entry"]["level"] == "error":
                found.append(f"{p['entry'].get('url', '')}: {p['entry']['text']}")
        return found


@contextlib.contextmanager
def _serving(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a random loopback port for the duration of the block."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws="none", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise AssertionError("uvicorn stopped before it started serving")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _dashboard_app(store: Store, **state: Any) -> FastAPI:
    app = create_app(load_settings(database_url=store.url), store=store, **state)
    return app


def _store(tmp_path_factory: pytest.TempPathFactory, mp: pytest.MonkeyPatch) -> Store:
    mp.chdir(tmp_path_factory.mktemp("cwd"))  # no ./aifinops.yaml of the developer
    for name in list(os.environ):
        if name.startswith(("AIFINOPS_", "AZURE_")):
            mp.delenv(name)
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('db') / 'aifinops.db'}")
    store.upgrade()
    return store


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app with the dashboard over a demo month, served on a random loopback port."""
    with pytest.MonkeyPatch.context() as mp:
        store = _store(tmp_path_factory, mp)
        load_demo_month(store, year=2026, month=10, seed=1, scale=0.05)
        with _serving(_dashboard_app(store)) as url:
            yield url
        store.dispose()


def _devtools_port(profile: Path, proc: subprocess.Popen[bytes], log: Path) -> int:
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if marker.exists() and marker.read_text().strip():
            return int(marker.read_text().splitlines()[0])
        if proc.poll() is not None:
            raise AssertionError(f"chromium exited with {proc.returncode}: {log.read_text()[-2000:]}")
        time.sleep(0.05)
    raise AssertionError("chromium did not open its DevTools port within 30 s")


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: apt-get install -y chromium")
    profile = tmp_path_factory.mktemp("chromium-profile")
    log = profile.parent / "chromium.log"  # a file, not a pipe: a full pipe would stall the browser
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        port = _devtools_port(profile, proc, log)
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        target = next(t for t in targets if t["type"] == "page")
        with connect(target["webSocketDebuggerUrl"], max_size=None, open_timeout=10) as ws:
            session = Page(ws)
            for domain in ("Page", "Runtime", "Log"):
                session.call(f"{domain}.enable")
            yield session
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _shown(amount: str) -> str:
    """The page's display rule: half-even; 2 places for 0 and from 1 up, else the first of 4, 6, 9 not 0."""
    value = Decimal(amount)
    places = 2
    if value and abs(value) < 1:
        places = next((p for p in (4, 6) if value.quantize(Decimal(1).scaleb(-p), ROUND_HALF_EVEN)), 9)
    return f"{value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN):,f}"


_KPI_CELLS = """
[...document.querySelectorAll('#kpi-table tbody tr[data-use-case]')].map((row) => ({
  use_case: row.dataset.useCase,
  cells: Object.fromEntries([...row.querySelectorAll('[data-kpi]')].map((cell) => [cell.dataset.kpi,
    [...cell.querySelectorAll('.amount')].map((a) => ({
      amount: a.querySelector('.money').dataset.amount, currency: a.querySelector('.money').dataset.currency,
      basis: a.querySelector('.basis').textContent, text: a.querySelector('.money').textContent,
    }))])),
}))
"""


def test_kpi_table_shows_every_use_case_with_the_api_amounts(
    page: Page, base_url: str, tmp_path: Path
) -> None:
    page.open(f"{base_url}/?period=2026-10", width=1280)
    page.screenshot(tmp_path / "dashboard-1280.png")
    api = httpx.get(f"{base_url}/api/kpis", params={"period": "2026-10", "group_by": "use_case"}).json()
    shown = {row["use_case"]: row["cells"] for row in page.evaluate(_KPI_CELLS)}
    assert page.evaluate("document.body.dataset.state") == "ready"
    assert set(shown) == {k["use_case"] for k in api["items"]}
    assert len(shown) >= 5
    for item in api["items"]:
        for kpi in ("cost", "cost_per_successful_task", "cost_of_failed_and_abandoned"):
            cells = shown[item["use_case"]][kpi]
            assert [{k: c[k] for k in ("amount", "currency", "basis")} for c in cells] == item[kpi]
            assert [c["text"] for c in cells] == [f"{_shown(m['amount'])} {m['currency']}" for m in item[kpi]]
    assert page.errors() == []


def test_charts_cards_and_top_spenders_are_drawn(page: Page, base_url: str) -> None:
    page.open(f"{base_url}/?period=2026-10", width=1280)
    snapshot = httpx.get(f"{base_url}/api/snapshot", params={"period": "2026-10"}).json()
    assert page.evaluate("document.querySelectorAll('#daily-chart rect.bar').length") > 31
    bars = page.evaluate("document.querySelectorAll('#cpt-chart svg rect').length")
    assert bars == 2 * len(snapshot["kpis"])  # cost per successful task, and beside it the waste
    totals = page.evaluate("[...document.querySelectorAll('#cards .money')].map((m) => m.dataset.amount)")
    assert snapshot["totals"][0]["amount"] in totals
    top_apps = page.evaluate(
        "[...document.querySelectorAll('tr[data-top=app] th')].map((t) => t.textContent)"
    )
    assert top_apps == [row["app"] for row in snapshot["top"]["app"]]
    assert page.evaluate("document.querySelector('#period').value") == "2026-10"
    assert page.errors() == []


def test_a_failed_task_opens_with_its_steps(page: Page, base_url: str) -> None:
    page.open(f"{base_url}/?period=2026-10", width=1280)
    task_id = page.evaluate("document.querySelector('#failed-table button[data-task]').dataset.task")
    page.evaluate("document.querySelector('#failed-table button[data-task]').click()")
    deadline = time.monotonic() + 10
    while not page.evaluate("document.querySelector('#task-dialog').open") and time.monotonic() < deadline:
        time.sleep(0.1)
    task = httpx.get(f"{base_url}/api/tasks/{task_id}").json()
    rows = page.evaluate("document.querySelectorAll('#task-dialog-body tbody tr').length")
    assert rows == len(task["events"]) > 0
    assert page.errors() == []


def test_narrow_screen_has_no_horizontal_page_scroll(page: Page, base_url: str, tmp_path: Path) -> None:
    page.open(f"{base_url}/?period=2026-10", width=390, height=844)
    page.screenshot(tmp_path / "dashboard-390.png")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.evaluate("document.querySelectorAll('#kpi-table tbody tr[data-use-case]').length") >= 5
    assert page.errors() == []


@settings(max_examples=60, deadline=None)
@given(st.decimals(min_value=Decimal("-1e6"), max_value=Decimal("1e6"), places=9, allow_nan=False))
def test_amounts_are_shown_rounded_half_even(page: Page, base_url: str, value: Decimal) -> None:
    if page.evaluate("location.origin") != base_url:
        page.open(f"{base_url}/?period=2026-10", width=1280)
    text = f"{value if value else Decimal(0):f}"  # the API never sends a negative zero
    shown = page.evaluate(f"import('/static/money.js').then((m) => m.formatAmount({json.dumps(text)}))")
    assert shown == _shown(text)


def test_sums_stay_exact_and_apart_per_currency_and_basis(page: Page, base_url: str) -> None:
    page.open(f"{base_url}/?period=2026-10", width=1280)
    amounts = [
        {"amount": "0.1", "currency": "USD", "basis": "estimated"},
        {"amount": "0.2", "currency": "USD", "basis": "estimated"},
        {"amount": "0.000000001", "currency": "EUR", "basis": "estimated"},
        {"amount": "5", "currency": "USD", "basis": "actual"},
    ]
    summed = page.evaluate(f"import('/static/money.js').then((m) => m.sumByCurrency({json.dumps(amounts)}))")
    assert summed == [
        {"amount": "0.000000001", "currency": "EUR", "basis": "estimated"},
        {"amount": "5", "currency": "USD", "basis": "actual"},
        {"amount": "0.3", "currency": "USD", "basis": "estimated"},
    ]


def test_a_server_with_keys_asks_for_one_and_then_loads(
    page: Page, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with pytest.MonkeyPatch.context() as mp:
        store = _store(tmp_path_factory, mp)
        _, secret = KeyStore(store).create(name="finance", scopes={"read"})
        with _serving(_dashboard_app(store)) as url:
            page.open(f"{url}/?period=2026-10", width=1280)
            assert page.evaluate("document.body.dataset.state") == "error"
            assert page.evaluate("document.querySelector('#key-form').hidden") is False
            page.evaluate(f"document.querySelector('#api-key').value = {json.dumps(secret)}")
            page.evaluate("document.querySelector('#key-form').requestSubmit()")
            deadline = time.monotonic() + 15
            while page.evaluate("document.body.dataset.state") != "ready" and time.monotonic() < deadline:
                time.sleep(0.1)
            assert page.evaluate("document.querySelector('#key-form').hidden") is True
            assert "No data" in page.evaluate("document.querySelector('#kpi-table').textContent")
            page.evaluate("sessionStorage.clear()")
        store.dispose()
    # 401 answers are logged by the browser as failed loads; nothing else may be.
    assert [e for e in page.errors() if "401" not in e] == []


def _two_currency_month(store: Store) -> None:
    """gpt-4o priced in USD, gpt-4o-mini in EUR, and one model with no price at all (unpriced)."""
    prices = PriceStore(store)
    prices.save(gpt4o_prices("USD"), now=PRICE_START)
    prices.save([dataclasses.replace(p, model="gpt-4o-mini") for p in gpt4o_prices("EUR")], now=PRICE_START)
    events = [event(i, model=("gpt-4o", "gpt-4o-mini", "gpt-4o")[i % 3]) for i in range(30)]
    events.append(event(99, model="no-such-model", task_id="t0"))
    ingestor = Ingestor(store)
    ingestor.ingest(events, source="test")
    ingestor.record_outcomes(
        [TaskOutcome(f"t{i}", Outcome.SUCCEEDED if i % 4 else Outcome.FAILED, T0, "uc-a") for i in range(10)]
    )


def test_currencies_and_bases_are_shown_apart_never_added(
    page: Page, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    actual = {"amount": "12.34", "currency": "USD", "basis": "actual"}
    with pytest.MonkeyPatch.context() as mp:
        store = _store(tmp_path_factory, mp)
        _two_currency_month(store)
        bill = CostRecord(
            billing_day=dt.date(2026, 10, 2),
            basis=Basis.ACTUAL,
            cost=Decimal("12.34"),
            currency="USD",
            meter_category="Foundry Models",
        )
        CostRecordStore(store).replace_slice(
            "test", "/subscriptions/s", Basis.ACTUAL, dt.date(2026, 10, 1), dt.date(2026, 11, 1), [bill]
        )
        app = _dashboard_app(store)
        with _serving(app) as url:
            page.open(f"{url}/?period=2026-10", width=1280)
            page.screenshot(tmp_path / "dashboard-two-currencies.png")
            kpis = httpx.get(f"{url}/api/kpis", params={"period": "2026-10"}).json()["items"]
            snapshot = httpx.get(f"{url}/api/snapshot", params={"period": "2026-10"}).json()
            cards = page.evaluate(
                "[...document.querySelectorAll('#cards dd')][0].querySelectorAll('.money').length"
            )
            cost = page.evaluate(
                "[...document.querySelectorAll('[data-kpi=cost] .money')].map((m) => m.title)"
            )
            unpriced = page.evaluate("document.querySelector('#cards .card.warn dd .big').textContent")
            page.evaluate("document.querySelector('#currency').value = 'EUR'")
            page.evaluate("document.querySelector('#currency').dispatchEvent(new Event('change'))")
            unit = page.evaluate("document.querySelector('#daily-chart .unit').textContent")
        store.dispose()
    assert snapshot["totals"][-1] == actual
    assert cards == len(snapshot["totals"]) == 3  # USD estimated, EUR estimated, USD actual: one line each
    assert cost == [f"{m['amount']} {m['currency']}" for m in kpis[0]["cost"]]
    assert {m["currency"] for m in kpis[0]["cost"]} == {"EUR", "USD"}
    assert unpriced == str(snapshot["unpriced_events"]) == "1"
    assert unit == "EUR · estimated"
    assert page.errors() == []


def _wait_ready(page: Page) -> None:
    deadline = time.monotonic() + 15
    while page.evaluate("document.body.dataset.state") != "ready":
        if time.monotonic() > deadline:
            raise AssertionError("the dashboard did not finish loading within 15 s")
        time.sleep(0.05)


def test_the_period_picker_moves_months_and_points_back_to_data(page: Page, base_url: str) -> None:
    page.open(f"{base_url}/?period=2026-10", width=1280)
    page.evaluate("document.querySelector('#period-next').click()")
    _wait_ready(page)
    assert page.evaluate("location.search") == "?period=2026-11"
    assert page.evaluate("document.querySelector('#period').value") == "2026-11"
    assert "No usage in 2026-11" in page.evaluate("document.querySelector('#status').textContent")
    page.evaluate("document.querySelector('#status a').click()")
    _wait_ready(page)
    assert page.evaluate("location.search") == "?period=2026-10"
    assert page.evaluate("document.querySelectorAll('#kpi-table tr[data-use-case]').length") >= 5
    assert page.errors() == []
