"""Reading tasks back: a task is identified by its id within its tenant, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from aifinops.domain import Outcome, TaskOutcome
from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store
from aifinops.store.prices import PriceStore
from aifinops.store.task_queries import get_task, list_tasks, task_aggregates, task_tenants
from tests.factories import PRICE_START, T0, event, gpt4o_prices

ENDED = T0 + dt.timedelta(hours=1)


def _two_tenants_reusing_an_id(store: Store) -> None:
    PriceStore(store).save(gpt4o_prices(), now=PRICE_START)
    ingestor = Ingestor(store)
    ingestor.ingest(
        [
            event(0, task_id="ticket-1", tenant="contoso"),
            event(1, task_id="ticket-1", tenant="contoso"),
            event(2, task_id="ticket-1", tenant="fabrikam", use_case="uc-b"),
            event(3, task_id="ticket-1", tenant=None),
        ],
        source="test",
    )
    ingestor.record_outcomes(
        [
            TaskOutcome("ticket-1", Outcome.SUCCEEDED, ENDED, tenant="contoso"),
            TaskOutcome("ticket-1", Outcome.FAILED, ENDED, tenant="fabrikam"),
        ]
    )


def test_two_tenants_reusing_a_task_id_have_two_tasks(store: Store) -> None:
    _two_tenants_reusing_an_id(store)
    contoso = get_task(store, "ticket-1", tenant="contoso")
    fabrikam = get_task(store, "ticket-1", tenant="fabrikam")
    untenanted = get_task(store, "ticket-1", tenant="")
    assert contoso and fabrikam and untenanted
    assert [e["event_id"] for e in contoso["events"]] == ["e0", "e1"]
    assert [e["event_id"] for e in fabrikam["events"]] == ["e2"]
    assert [e["event_id"] for e in untenanted["events"]] == ["e3"]
    assert (contoso["outcome"], fabrikam["outcome"], untenanted["outcome"]) == ("succeeded", "failed", "open")
    assert (contoso["tenant"], fabrikam["tenant"], untenanted["tenant"]) == ("contoso", "fabrikam", None)
    assert contoso["costs"]["USD"] == 2 * fabrikam["costs"]["USD"]
    assert get_task(store, "ticket-1", tenant="northwind") is None
    assert task_tenants(store, "ticket-1") == ["", "contoso", "fabrikam"]
    listed = sorted((t["tenant"] or "", t["events"], t["outcome"]) for t in list_tasks(store))
    assert listed == [("", 1, "open"), ("contoso", 2, "succeeded"), ("fabrikam", 1, "failed")]
    assert [t["tenant"] for t in list_tasks(store, tenant="fabrikam")] == ["fabrikam"]


def test_task_counts_and_outcomes_fold_per_tenant(store: Store) -> None:
    _two_tenants_reusing_an_id(store)
    folded = {(a.group, a.outcome): a.tasks for a in task_aggregates(store, group_by=("tenant",))}
    assert folded == {(("contoso",), "succeeded"): 1, (("fabrikam",), "failed"): 1, (("",), "open"): 1}
    one = task_aggregates(store, group_by=("use_case",), tenant="fabrikam")
    assert [(a.group, a.outcome, a.tasks, a.steps) for a in one] == [(("uc-b",), "failed", 1, 3)]
