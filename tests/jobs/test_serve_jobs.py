"""The jobs serve schedules: budgets always, one collection job per configured source on its interval."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from aifinops.config import load_settings
from aifinops.jobs.collect import DEFAULT_INTERVALS
from aifinops.jobs.serve_jobs import build_schedule
from aifinops.store import Store


def test_without_an_azure_source_only_budgets_are_scheduled(sqlite_store: Store) -> None:
    settings = load_settings(
        budget_check_seconds=60,
        azure={"retail_prices_sync_seconds": 0},
        provisioned={"estimate_seconds": 0},
        allocation={"every_seconds": 0},
    )
    schedule = build_schedule(settings, sqlite_store)
    assert list(schedule.jobs) == ["budgets"]
    assert schedule.jobs["budgets"].interval == dt.timedelta(seconds=60)


def test_the_provisioned_estimate_is_a_job_hourly_by_default(sqlite_store: Store) -> None:
    schedule = build_schedule(load_settings(), sqlite_store)
    assert schedule.jobs["provisioned"].interval == dt.timedelta(hours=1)
    assert schedule.jobs["provisioned"].run() == 0  # an empty store: nothing to estimate


def test_each_configured_source_is_a_job_on_its_own_interval(sqlite_store: Store, tmp_path: Path) -> None:
    settings = load_settings(
        azure={
            "export_paths": [str(tmp_path)],
            "logs": {"workspaces": ["00000000-0000-0000-0000-00000000000a"]},
            "collect_interval_seconds": {"exports": 120},
        },
        schedule_lease_seconds=12,
        schedule_poll_seconds=0.5,
    )
    schedule = build_schedule(settings, sqlite_store)
    collect = {
        n: job.interval.total_seconds() for n, job in schedule.jobs.items() if n.startswith("collect:")
    }
    assert collect.pop("collect:exports") == 120
    assert collect and set(schedule.jobs) == {
        "budgets",
        "allocate",
        "prices",
        "provisioned",
        "collect:exports",
        *collect,
    }
    assert all(seconds == DEFAULT_INTERVALS[name.split(":")[1]] for name, seconds in collect.items())
    assert schedule.lease == dt.timedelta(seconds=12) and schedule.poll == 0.5


def test_the_price_sync_is_a_job_looked_at_hourly_at_most_and_off_at_zero(sqlite_store: Store) -> None:
    daily = build_schedule(load_settings(azure={"retail_prices_sync_seconds": 86_400}), sqlite_store)
    assert daily.jobs["prices"].interval == dt.timedelta(hours=1)
    often = build_schedule(load_settings(azure={"retail_prices_sync_seconds": 600}), sqlite_store)
    assert often.jobs["prices"].interval == dt.timedelta(minutes=10)
    off = build_schedule(load_settings(azure={"retail_prices_sync_seconds": 0}), sqlite_store)
    assert "prices" not in off.jobs


def test_retention_is_a_job_when_configured_and_off_by_default(sqlite_store: Store) -> None:
    assert "retention" not in build_schedule(load_settings(), sqlite_store).jobs
    on = build_schedule(load_settings(retention_keep_months=3, retention_check_seconds=600), sqlite_store)
    assert on.jobs["retention"].interval == dt.timedelta(minutes=10)


def test_allocation_is_a_job_hourly_by_default_and_off_at_zero(sqlite_store: Store) -> None:
    schedule = build_schedule(load_settings(), sqlite_store)
    assert schedule.jobs["allocate"].interval == dt.timedelta(hours=1)
    assert schedule.jobs["allocate"].run() == 0  # an empty store: no month has a bill to allocate
    off = build_schedule(load_settings(allocation={"every_seconds": 0}), sqlite_store)
    assert "allocate" not in off.jobs
