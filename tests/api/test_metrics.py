"""/metrics parses with Prometheus's own parser and keeps label cardinality bounded."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from aifinops.api.app import create_app
from aifinops.config import load_settings
from aifinops.queries.metrics import OTHER, cap_labels
from aifinops.store import Store
from tests.factories import event_json


def _families(text: str) -> dict[str, list[object]]:
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def test_metrics_parse_and_carry_tokens_cost_and_freshness(client: TestClient) -> None:
    client.post("/api/events", json=[event_json(i) for i in range(9)] + [event_json(99, model="nope")])
    r = client.get("/metrics")
    assert r.status_code == 200
    fams = _families(r.text)
    tokens: dict[tuple[str, str], float] = {}
    for sample in fams["aifinops_tokens"]:
        key = (sample.labels["type"], sample.labels["app"])  # type: ignore[attr-defined]
        tokens[key] = tokens.get(key, 0) + sample.value  # type: ignore[attr-defined]
    assert tokens[("input", "app-a")] == 10_000
    assert tokens[("cached_input", "app-a")] == 2_000
    cost = [s for s in fams["aifinops_estimated_cost"] if s.labels["currency"] == "USD"]  # type: ignore[attr-defined]
    assert abs(sum(s.value for s in cost) - 9 * 0.00325) < 1e-12  # type: ignore[attr-defined]
    assert sum(s.value for s in fams["aifinops_unpriced_events"]) == 1  # type: ignore[attr-defined]
    assert "aifinops_last_ingest_timestamp_seconds" in fams


def test_label_cap_folds_the_tail_into_other(sqlite_store: Store) -> None:
    settings = load_settings(metrics={"labels": ["tenant"], "label_cap": 2})
    with TestClient(create_app(settings, store=sqlite_store)) as c:
        events = [event_json(i, tenant=f"tenant-{i % 5}", task_id=None) for i in range(50)]
        events += [event_json(100 + i, tenant="tenant-0", task_id=None) for i in range(20)]
        c.post("/api/events", json=events)
        fams = _families(c.get("/metrics").text)
    tenants = {s.labels["tenant"] for s in fams["aifinops_requests"]}  # type: ignore[attr-defined]
    assert len(tenants) == 3
    assert OTHER in tenants and "tenant-0" in tenants
    assert sum(s.value for s in fams["aifinops_requests"]) == 70  # type: ignore[attr-defined]


def test_cap_labels_keeps_busiest_values() -> None:
    rows = [
        {"app": "a", "events": 10},
        {"app": "b", "events": 5},
        {"app": "c", "events": 1},
        {"app": None, "events": 2},
    ]
    assert [r["app"] for r in cap_labels(rows, ["app"], 2)] == ["a", "b", OTHER, OTHER]


def test_scrapes_are_served_from_the_last_result_while_a_refresh_runs() -> None:
    import threading
    import time

    from aifinops.api.metrics import StaleWhileRevalidate

    calls: list[int] = []
    release = threading.Event()

    def compute() -> list[object]:
        calls.append(1)
        if len(calls) > 1:
            release.wait(5)
        return [len(calls)]  # type: ignore[list-item]

    cache = StaleWhileRevalidate(compute, max_age=0.01)  # type: ignore[arg-type]
    assert cache.get() == [1]  # the first call computes inline
    time.sleep(0.02)
    assert cache.get() == [1]  # stale: answered at once, one refresh started
    assert cache.get() == [1]  # no second refresh while one runs
    for _ in range(200):  # the refresh thread has started and is blocked in compute
        if len(calls) == 2:
            break
        time.sleep(0.01)
    assert cache.get() == [1]
    assert len(calls) == 2
    release.set()
    seen = []
    for _ in range(200):
        seen.append(cache.get()[0])
        if seen[-1] >= 2:
            break
        time.sleep(0.01)
    assert seen[-1] == 2  # the refreshed value replaces the stale one


def test_cost_per_successful_task_is_served_fully_loaded_from_the_stored_allocation(
    allocated_store: Store,
) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from aifinops.api.metrics import StoreCollector

    registry = CollectorRegistry()

    def clock() -> dt.datetime:
        return dt.datetime(2026, 10, 20, 12, tzinfo=dt.UTC)

    registry.register(
        StoreCollector(allocated_store, load_settings(metrics={"refresh_seconds": 0}).metrics, clock=clock)
    )
    fams = _families(generate_latest(registry).decode())
    per_task = {
        (s.labels["use_case"], s.labels["basis"]): s.value  # type: ignore[attr-defined]
        for s in fams["aifinops_cost_per_successful_task"]
        if s.labels["currency"] == "USD"  # type: ignore[attr-defined]
    }
    # This month's billing days only: the 100 USD billed on 2026-09-30 is not in uc-a's figure.
    assert per_task == {
        ("uc-a", "estimated"): 0.00975,
        ("uc-a", "actual"): 6.0,
        ("uc-a", "amortized"): 4.5,
        ("uc-b", "estimated"): 0.00325,
        ("uc-b", "actual"): 2.0,
        ("uc-b", "amortized"): 1.5,
    }
    tasks = {(s.labels["use_case"], s.labels["outcome"]): s.value for s in fams["aifinops_tasks"]}  # type: ignore[attr-defined]
    assert tasks == {("uc-a", "succeeded"): 1, ("uc-a", "failed"): 1, ("uc-b", "succeeded"): 1}


def _counter_series(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value  # type: ignore[attr-defined]
        for f in text_string_to_metric_families(text)
        if f.type == "counter"
        for s in f.samples
        if s.name.endswith("_total")  # type: ignore[attr-defined]
    }


def test_capped_counters_never_fall_nor_vanish_when_the_ranking_changes(sqlite_store: Store) -> None:
    """A value that had its own series keeps it; the ranking changing never moves it into ``other``."""
    settings = load_settings(metrics={"labels": ["tenant"], "label_cap": 2, "refresh_seconds": 0})
    with TestClient(create_app(settings, store=sqlite_store)) as c:

        def send(first: int, tenant: str, n: int, tokens: int) -> None:
            events = [
                event_json(first + i, tenant=tenant, task_id=None, input_tokens=tokens, cached_input_tokens=0)
                for i in range(n)
            ]
            assert c.post("/api/events", json=events).status_code in (200, 202)

        # t-busy and t-many-small get their own series; t-big (few events, many tokens) goes to other.
        send(0, "t-busy", 10, 100)
        send(100, "t-many-small", 5, 10)
        send(200, "t-big", 4, 50_000)
        before = _counter_series(c.get("/metrics").text)
        # t-big becomes busier than t-many-small: the ranking changes.
        send(300, "t-big", 3, 50_000)
        send(400, "t-new", 1, 10)
        after = _counter_series(c.get("/metrics").text)
    assert any(dict(labels).get("tenant") == OTHER for _, labels in before)
    vanished = sorted(set(before) - set(after))
    assert not vanished, f"series vanished after the ranking changed: {vanished}"
    fell = {k: (before[k], after[k]) for k in before if after[k] < before[k]}
    assert not fell, f"counters fell (a false reset for Prometheus): {fell}"


def test_recommendation_savings_are_served_per_lever_as_the_recommendations_stack_them(
    sqlite_store: Store,
) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from aifinops.api.metrics import StoreCollector
    from aifinops.demo.simulation import Waste
    from aifinops.queries.recommendations import recommendations_document
    from tests.factories import load_simulated_month

    load_simulated_month(sqlite_store, Waste("doc-qa", retries=0.3, loops=0.1), scale=0.05)
    now = dt.datetime(2026, 10, 31, tzinfo=dt.UTC)
    registry = CollectorRegistry()
    collector = StoreCollector(
        sqlite_store, load_settings(metrics={"refresh_seconds": 0}).metrics, clock=lambda: now
    )
    registry.register(collector)
    samples = _families(generate_latest(registry).decode())["aifinops_recommendation_savings"]
    served = {s.labels["lever"]: s.value for s in samples if s.labels["currency"] == "USD"}  # type: ignore[attr-defined]
    doc = recommendations_document(sqlite_store, start=now - dt.timedelta(days=30), end=now)
    expected: dict[str, float] = {}
    for rec in doc["recommendations"]:
        for a in rec["stacked_savings_per_month"]:
            expected[rec["lever"]] = expected.get(rec["lever"], 0.0) + float(a["amount"])
    assert set(served) == {"loops", "retries", "caching"} and served == expected


def test_metrics_give_the_price_book_size_and_age_without_labels(sqlite_store: Store) -> None:
    from aifinops.jobs.price_sync import seed_snapshot

    with TestClient(create_app(load_settings(), store=sqlite_store)) as c:
        before = _families(c.get("/metrics").text)
        assert [s.value for s in before["aifinops_price_book_prices"]] == [0]  # type: ignore[attr-defined]
        assert "aifinops_price_book_age_seconds" not in before  # never synced nor seeded: no age to give
    seed_snapshot(sqlite_store, now=dt.datetime(2026, 10, 1, tzinfo=dt.UTC))
    with TestClient(create_app(load_settings(), store=sqlite_store)) as c:
        fams = _families(c.get("/metrics").text)
    assert [s.value for s in fams["aifinops_price_book_prices"]] == [1567]  # type: ignore[attr-defined]
    (age,) = fams["aifinops_price_book_age_seconds"]
    assert age.labels == {}  # type: ignore[attr-defined]
    assert (
        age.value >= (dt.datetime.now(dt.UTC) - dt.datetime(2026, 9, 1, tzinfo=dt.UTC)).total_seconds() - 60
    )  # type: ignore[attr-defined]


def test_recommendation_savings_are_served_on_every_basis_the_window_is_allocated_on(
    demo_store: Store,
) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from aifinops.api.metrics import StoreCollector

    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)  # the last 30 days: October, allocated on both bases
    registry = CollectorRegistry()
    registry.register(
        StoreCollector(demo_store, load_settings(metrics={"refresh_seconds": 0}).metrics, clock=lambda: now)
    )
    samples = _families(generate_latest(registry).decode())["aifinops_recommendation_savings"]
    bases = {s.labels["basis"] for s in samples}  # type: ignore[attr-defined]
    assert bases == {"estimated", "actual", "amortized"}
