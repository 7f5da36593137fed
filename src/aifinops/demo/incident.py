"""The demo's incident: one weekday of the month on which doc-qa's agent loops, ingested as real usage.

The simulated month has no day that stands out, so the anomaly detector would have nothing to show. On the
first weekday from the 20th, as many extra doc-qa tasks as the day already had run a retrieval and an o3 call
per step for 18–24 steps and then fail. Event ids are deterministic, so ingesting twice adds nothing.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from aifinops.demo.estate import aoai_account
from aifinops.demo.simulation import USE_CASES
from aifinops.domain import EventKind, Outcome, TaskOutcome, UsageEvent
from aifinops.jobs.ingest import Ingestor
from aifinops.store.event_queries import count_tasks_with_prefix
from aifinops.store.store import Store

__all__ = ["INCIDENT_USE_CASE", "incident_day", "inject_agent_loop"]

INCIDENT_USE_CASE = "doc-qa"
_TENANTS = (("contoso", "CC-1001"), ("fabrikam", "CC-1002"), ("northwind", "CC-2001"))


def incident_day(year: int, month: int) -> dt.date:
    """The first weekday on or after the 20th."""
    day = dt.date(year, month, 20)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def _tasks_that_day(store: Store, day: dt.date) -> int:
    # The simulation's task ids of that day, not the incident's.
    return count_tasks_with_prefix(store, f"{INCIDENT_USE_CASE}-{day:%Y%m%d}-")


def _loop_task(rng: random.Random, day: dt.date, n: int) -> tuple[list[UsageEvent], TaskOutcome]:
    uc = next(u for u in USE_CASES if u.name == INCIDENT_USE_CASE)
    task_id = f"{uc.name}-loop-{day:%Y%m%d}-{n:03d}"
    tenant, cost_center = rng.choice(_TENANTS)
    ts = dt.datetime(day.year, day.month, day.day, rng.randint(9, 15), rng.randrange(60), tzinfo=dt.UTC)
    dims: dict[str, Any] = {"app": uc.app, "use_case": uc.name, "tenant": tenant, "cost_center": cost_center}
    dims |= {"team": uc.team, "environment": "prod", "user_group": "analysts", "region": uc.region}
    events = []
    for step in range(rng.randint(18, 24)):
        ts += dt.timedelta(milliseconds=rng.randrange(40, 300))
        events.append(
            UsageEvent(
                event_id=f"{task_id}-s{step}-a1-retrieval",
                ts=ts,
                task_id=task_id,
                step=step,
                kind=EventKind.RETRIEVAL,
                tool_name="ai-search",
                requests=1,
                **dims,
            )
        )
        ts += dt.timedelta(milliseconds=rng.randrange(2000, 9000))
        inp = rng.randint(*uc.input_tokens) + step * rng.randint(800, 2000)  # the context keeps growing
        out = rng.randint(*uc.output_tokens)
        events.append(
            UsageEvent(
                event_id=f"{task_id}-s{step}-a1-chat",
                ts=ts,
                task_id=task_id,
                step=step,
                kind=EventKind.CHAT,
                deployment=uc.deployment,
                model=uc.model,
                model_version=uc.model_version,
                deployment_type=uc.deployment_type,
                input_tokens=inp,
                output_tokens=out,
                reasoning_tokens=int(out * uc.reasoning_share),
                resource_id=aoai_account(uc.region),
                **dims,
            )
        )
    ended = ts + dt.timedelta(seconds=5)
    return events, TaskOutcome(task_id, Outcome.FAILED, ended, use_case=uc.name, tenant=tenant)


def inject_agent_loop(store: Store, *, year: int, month: int, seed: int) -> tuple[dt.date, int]:
    """Ingest the incident's tasks through the real ingestion path; returns (day, looping tasks)."""
    day = incident_day(year, month)
    count = max(3, _tasks_that_day(store, day))
    rng = random.Random(f"{seed}:incident:{day}")
    events: list[UsageEvent] = []
    outcomes: list[TaskOutcome] = []
    for n in range(count):
        task_events, outcome = _loop_task(rng, day, n)
        events += task_events
        outcomes.append(outcome)
    ingestor = Ingestor(store)
    ingestor.ingest(events, source="demo")
    ingestor.record_outcomes(outcomes)
    return day, count
