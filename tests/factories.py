"""Builders of valid domain values and wire payloads, so each test states only what matters to it."""

from __future__ import annotations

import datetime as dt
import os
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

from aifinops.domain import DeploymentType, MeterKind, Price, UsageEvent
from aifinops.emulator.state import EmulatorState

#: The shared reference and sample files, beside the repository (CI lays them out the same way).
SHARED_DIR = Path(os.environ.get("AIFINOPS_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared"))
SAMPLES_DIR = SHARED_DIR / "samples"
T0 = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
PRICE_START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


class EmulatorToken:
    """A token provider holding one token the Azure emulator issued."""

    def __init__(self, state: EmulatorState) -> None:
        self.value = state.issue_token()

    def token(self) -> str:
        return self.value


def gpt4o_prices(currency: str = "USD") -> list[Price]:
    """gpt-4o global standard at 2.50 / 1.25 / 10.00 per 1M tokens (input / cached / output)."""
    return [
        Price(
            model="gpt-4o",
            meter_kind=kind,
            price=Decimal(p),
            currency=currency,
            effective_start=PRICE_START,
            deployment_type=DeploymentType.GLOBAL_STANDARD,
            source="test",
        )
        for kind, p in ((MeterKind.INPUT, "2.5"), (MeterKind.CACHED_INPUT, "1.25"), (MeterKind.OUTPUT, "10"))
    ]


def event(i: int = 0, **kw: Any) -> UsageEvent:
    base: dict[str, Any] = dict(
        event_id=f"e{i}",
        ts=T0 + dt.timedelta(minutes=i),
        task_id=f"t{i // 3}",
        step=i % 3,
        app="app-a",
        use_case="uc-a",
        tenant="contoso",
        model="gpt-4o",
        deployment="d-4o",
        deployment_type=DeploymentType.GLOBAL_STANDARD,
        input_tokens=1000,
        cached_input_tokens=200,
        output_tokens=100,
    )
    base.update(kw)
    return UsageEvent(**base)


def event_json(i: int = 0, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": f"e{i}",
        "ts": (T0 + dt.timedelta(minutes=i)).isoformat(),
        "task_id": f"t{i // 3}",
        "step": i % 3,
        "app": "app-a",
        "use_case": "uc-a",
        "tenant": "contoso",
        "model": "gpt-4o",
        "deployment": "d-4o",
        "deployment_type": "global_standard",
        "input_tokens": 1000,
        "cached_input_tokens": 200,
        "output_tokens": 100,
    }
    base.update(kw)
    return base


class LogsEmulator:
    """The Azure emulator's Log Analytics query API with a real ``LogsQueryClient`` pointed at it: an
    azure-identity client-secret credential and the SDK's own pipeline over the emulator's transport.

    Use as a context manager; ``client(**kw)`` builds a :class:`LogAnalyticsClient` (``kw``: window,
    max_rows, policy, …).
    """

    def __init__(self, state: EmulatorState | None = None) -> None:
        self.state = state or EmulatorState()
        self.state.client_secrets.setdefault("logs-reader", "s3cret")

    def __enter__(self) -> LogsEmulator:
        import httpx
        from azure.identity import ClientSecretCredential

        from aifinops.emulator import SyncASGITransport, azure_transport, create_emulator

        self.http = httpx.Client(transport=SyncASGITransport(create_emulator(self.state)))
        self.transport = azure_transport(self.http)
        self.credential = ClientSecretCredential(
            "tenant",
            "logs-reader",
            "s3cret",
            authority="https://login.emulator.local",
            transport=self.transport,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def client(self, **kw: Any) -> Any:
        from aifinops.sources._http import RetryPolicy
        from aifinops.sources.log_analytics import LogAnalyticsClient

        kw.setdefault("policy", RetryPolicy(max_attempts=3, sleep=lambda _: None))
        return LogAnalyticsClient(self.credential, transport=self.transport, retry_backoff_factor=0, **kw)


#: Daily spend of a weekday-shaped scope, Monday … Sunday, relative to its level.
WEEKDAY_SHAPE = tuple(Decimal(x) for x in ("1.00", "1.06", "1.10", "1.04", "0.88", "0.32", "0.26"))
SPEND_LEVELS = (40, 90, 250, 700, 2200)  # USD per weekday


def weekday_shaped_history(
    rng: random.Random, *, first: dt.date, days: int, noise: float, gaussian: bool = False
) -> dict[dt.date, Decimal]:
    """One scope's daily spend: a level, the weekday shape, and multiplicative noise: uniform in ±``noise``,
    or (``gaussian``) normal with σ = ``noise``, the harsher reading of "±12 %"."""
    level = Decimal(rng.choice(SPEND_LEVELS))
    series = {}
    for i in range(days):
        day = first + dt.timedelta(days=i)
        error = rng.gauss(0, noise) if gaussian else rng.uniform(-noise, noise)
        jitter = Decimal(str(round(max(0.05, 1 + error), 6)))
        series[day] = (level * WEEKDAY_SHAPE[day.weekday()] * jitter).quantize(Decimal("0.000001"))
    return series


def load_simulated_month(store: Any, waste: Any, *, scale: float = 0.1, seed: int = 3) -> list[UsageEvent]:
    """October 2026 of the simulator (list and demo contract prices, outcomes recorded) with ``waste``
    injected; its events."""
    from aifinops.demo.simulation import simulate_month
    from aifinops.jobs.ingest import Ingestor
    from aifinops.sources.price_file import load_snapshot
    from aifinops.store.prices import PriceStore

    PriceStore(store).save(load_snapshot().prices, now=T0)
    PriceStore(store).save(load_snapshot("demo-contract.yaml").prices, now=T0)
    ingestor = Ingestor(store)
    events: list[UsageEvent] = []
    outcomes = []
    for task in simulate_month(2026, 10, seed=seed, scale=scale, waste=waste):
        events += task.events
        if task.outcome is not None:
            outcomes.append(task.outcome)
    ingestor.ingest(events, source="sim")
    ingestor.record_outcomes(outcomes)
    return events
