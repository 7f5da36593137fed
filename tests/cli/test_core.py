"""The CLI: db upgrade, keys, reprice and demo, with errors as one line and a non-zero exit."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from aifinops.cli import app
from aifinops.domain import DeploymentType, MeterKind, Price
from aifinops.jobs.ingest import Ingestor
from aifinops.store import Store
from aifinops.store.prices import PriceStore
from tests.factories import PRICE_START, event, gpt4o_prices

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("AIFINOPS_DATABASE_URL", url)
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    return Store(url)


def test_keys_create_list_revoke(db: Store) -> None:
    created = runner.invoke(app, ["keys", "create", "--name", "ci", "--scope", "read", "--tenant", "contoso"])
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("afo_")
    listing = runner.invoke(app, ["keys", "list"])
    assert "ci" in listing.stdout and secret not in listing.stdout
    key_id = "k_" + secret.split("_")[1]
    assert runner.invoke(app, ["keys", "revoke", key_id]).exit_code == 0


def test_errors_are_one_line_with_exit_code_2(db: Store) -> None:
    import sys

    from aifinops.cli import main

    old = sys.argv
    sys.argv = ["aifinops", "keys", "create", "--name", "x", "--scope", "root"]
    try:
        with pytest.raises(SystemExit) as exit_info:
            main()
    finally:
        sys.argv = old
    assert exit_info.value.code == 2


def test_reprice_records_the_run_and_rebuilds_rollups(db: Store) -> None:
    with db.session() as conn:  # `db upgrade` seeded the shipped snapshot; this book starts empty
        conn.execute(sa.text("DELETE FROM prices"))
    ingestor = Ingestor(db)
    ingestor.ingest([event(i) for i in range(6)], source="test")  # no prices yet: all unpriced
    PriceStore(db).save(gpt4o_prices(), now=PRICE_START)
    result = runner.invoke(
        app, ["reprice", "--from", "2026-10-01", "--to", "2026-10-02", "--note", "prices loaded"]
    )
    assert result.exit_code == 0, result.output
    assert "6 changed" in result.stdout and "unpriced 6 → 0" in result.stdout
    with db.reader() as conn:
        rollup = conn.execute(sa.text("SELECT SUM(cost_nanos), SUM(unpriced_events) FROM usage_rollup")).one()
        tasks = conn.execute(
            sa.text("SELECT SUM(cost_nanos) FROM task_rollup WHERE currency = 'USD'")
        ).scalar_one()
        runs = conn.execute(sa.text("SELECT changed, note FROM reprice_runs")).all()
    assert (int(rollup[0]), int(rollup[1])) == (6 * 3_250_000, 0)
    assert int(tasks) == 6 * 3_250_000
    assert [tuple(r) for r in runs] == [(6, "prices loaded")]


def test_reprice_refuses_a_backwards_range(db: Store) -> None:
    result = runner.invoke(app, ["reprice", "--from", "2026-10-05", "--to", "2026-10-01"])
    assert result.exit_code != 0


def test_a_used_price_cannot_change_silently(db: Store) -> None:
    from aifinops.errors import PricingError

    PriceStore(db).save(gpt4o_prices(), now=PRICE_START)
    Ingestor(db).ingest([event(0)], source="test")
    changed = [
        Price(
            model="gpt-4o",
            meter_kind=MeterKind.INPUT,
            price=Decimal("3"),
            currency="USD",
            effective_start=PRICE_START,
            deployment_type=DeploymentType.GLOBAL_STANDARD,
            source="test",
        )
    ]
    with pytest.raises(PricingError, match="reprice"):
        PriceStore(db).save(changed, now=dt.datetime.now(dt.UTC))


def test_demo_is_deterministic_and_idempotent(db: Store) -> None:
    args = ["demo", "--month", "2026-02", "--scale", "0.02", "--no-serve"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "doc-qa" in first.stdout
    assert "policy-qa" in first.stdout  # the API Management app, read from Log Analytics
    with db.reader() as conn:
        before = conn.execute(sa.text("SELECT COUNT(*), SUM(cost_nanos) FROM usage_events")).one()
    assert runner.invoke(app, args).exit_code == 0
    with db.reader() as conn:
        after = conn.execute(sa.text("SELECT COUNT(*), SUM(cost_nanos) FROM usage_events")).one()
    assert before == after and before[0] > 100


def test_each_collection_keeps_snapshots_of_the_month_today_and_yesterday(db: Store) -> None:
    """``aifinops serve`` calls this after every collection: three periods, each with its history."""
    from zoneinfo import ZoneInfo

    from aifinops.jobs.snapshots import keep_snapshots
    from aifinops.store.snapshot_queries import snapshot_history

    keep_snapshots(db, timezone="Pacific/Auckland", now=dt.datetime.now(dt.UTC))
    keep_snapshots(db, timezone="Pacific/Auckland", now=dt.datetime.now(dt.UTC))
    today = dt.datetime.now(dt.UTC).astimezone(ZoneInfo("Pacific/Auckland")).date()
    for period in (f"{today:%Y-%m}", today.isoformat(), (today - dt.timedelta(days=1)).isoformat()):
        history = snapshot_history(db, period)
        assert [s.trigger for s in history] == ["collect", "collect"], period
        assert history[0].timezone == "Pacific/Auckland"


def _refused(args: list[str]) -> str:
    result = runner.invoke(app, ["keys", "create", "--name", "k", *args])
    assert result.exit_code != 0, result.output
    return str(result.exception)


def test_keys_create_refuses_a_tenant_it_would_not_enforce(db: Store) -> None:
    """An admin (or metrics) key sees every tenant whatever it says: a tenant on it would only mislead."""
    assert "admin" in _refused(["--scope", "admin", "--tenant", "contoso"])
    assert "metrics" in _refused(["--scope", "metrics", "--tenant", "contoso"])
    assert "tenant" in _refused(
        ["--scope", "gateway", "--tenant", "contoso", "--identity", "tenant=fabrikam"]
    )
    with db.reader() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM api_keys").scalar_one() == 0
    assert (
        runner.invoke(app, ["keys", "create", "--name", "r", "--scope", "read", "--tenant", "c"]).exit_code
        == 0
    )


def test_keys_create_refuses_a_policy_the_gateway_does_not_define(
    db: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key naming an undefined policy would be refused on every gateway call: refuse it at creation, naming
    the policies the configured policy file defines."""
    unknown = _refused(["--scope", "gateway", "--policy", "standard"])
    assert "AIFINOPS_GATEWAY__POLICIES_FILE" in unknown and "--policies-file" in unknown
    policies = tmp_path / "policies.yaml"
    policies.write_text("policies:\n  standard:\n    - {kind: rpm, limit: 60}\n  batch: []\n")
    monkeypatch.setenv("AIFINOPS_GATEWAY__POLICIES_FILE", str(policies))
    typo = _refused(["--scope", "gateway", "--policy", "standrad"])
    assert "standrad" in typo and "['batch', 'standard']" in typo
    assert "gateway" in _refused(["--scope", "read", "--policy", "standard"])
    ok = runner.invoke(app, ["keys", "create", "--name", "g", "--scope", "gateway", "--policy", "standard"])
    assert ok.exit_code == 0, ok.output
    monkeypatch.delenv("AIFINOPS_GATEWAY__POLICIES_FILE")
    args = ["--scope", "gateway", "--policy", "batch", "--policies-file", str(policies)]
    assert runner.invoke(app, ["keys", "create", "--name", "b", *args]).exit_code == 0


def test_keys_create_makes_a_metrics_key_for_prometheus(db: Store) -> None:
    created = runner.invoke(app, ["keys", "create", "--name", "prometheus", "--scope", "metrics"])
    assert created.exit_code == 0, created.output
    assert "metrics" in created.output


def test_retention_drops_old_events_and_says_how_many(db: Store) -> None:
    Ingestor(db).ingest([event(1, ts=dt.datetime(2020, 1, 5, tzinfo=dt.UTC)), event(2)], source="t")
    result = runner.invoke(app, ["retention", "--keep-months", "2"])
    assert result.exit_code == 0, result.output
    assert "dropped 1 older events" in result.stdout
    with db.reader() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM usage_events")).scalar_one() == 1


def test_retention_needs_a_number_of_months(db: Store) -> None:
    result = runner.invoke(app, ["retention"])
    assert result.exit_code != 0
    assert "--keep-months" in str(result.exception) + result.output


def test_estimate_provisioned_prices_the_hours_and_names_what_it_cannot(
    db: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    ptu_hour = Price(
        "ptu_hour",
        MeterKind.UNIT,
        Decimal("1.0"),
        "USD",
        PRICE_START,
        unit_size=1,
        deployment_type=DeploymentType.GLOBAL_PROVISIONED,
        unit="ptu_hour",
        meter_name="Provisioned Managed Global Unit",
    )
    PriceStore(db).save([ptu_hour], now=PRICE_START)
    calls = [
        event(i, deployment="ptu-a", deployment_type=DeploymentType.GLOBAL_PROVISIONED) for i in range(3)
    ]
    Ingestor(db).ingest(calls, source="test")
    monkeypatch.setenv("AIFINOPS_PROVISIONED__DEPLOYMENTS", '{"ptu-a": {"units": 15}}')
    args = ["estimate-provisioned", "--from", "2026-10-01", "--to", "2026-10-02"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "ptu-a: 24 h × 15 units = 360 USD estimated" in result.stdout and "3 events" in result.stdout
    monkeypatch.setenv("AIFINOPS_PROVISIONED__DEPLOYMENTS", "{}")
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "ptu-a: not estimated (3 calls): units unknown" in result.stdout


def test_reprice_re_estimates_provisioned_deployments_of_its_range(
    db: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    ptu_hour = Price(
        "ptu_hour",
        MeterKind.UNIT,
        Decimal("1.0"),
        "USD",
        PRICE_START,
        unit_size=1,
        deployment_type=DeploymentType.GLOBAL_PROVISIONED,
        unit="ptu_hour",
        meter_name="Provisioned Managed Global Unit",
    )
    PriceStore(db).save([ptu_hour], now=PRICE_START)
    calls = [
        event(i, deployment="ptu-a", deployment_type=DeploymentType.GLOBAL_PROVISIONED) for i in range(3)
    ]
    Ingestor(db).ingest(calls, source="test")
    monkeypatch.setenv("AIFINOPS_PROVISIONED__DEPLOYMENTS", '{"ptu-a": {"units": 15}}')
    args = ["--from", "2026-10-01", "--to", "2026-10-02"]
    assert runner.invoke(app, ["estimate-provisioned", *args]).exit_code == 0

    def ptu_cost() -> int:
        with db.reader() as conn:
            sql = "SELECT SUM(cost_nanos) FROM usage_events WHERE deployment = 'ptu-a'"
            return int(conn.execute(sa.text(sql)).scalar_one() or 0)

    estimated = ptu_cost()
    assert estimated > 0
    result = runner.invoke(app, ["reprice", *args])
    assert result.exit_code == 0, result.output
    assert "ptu-a: 24 h × 15 units = 360 USD estimated" in result.stdout
    assert ptu_cost() == estimated  # not back at the token price
