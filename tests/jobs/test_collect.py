"""Collection cycles: export folders and blob runs into the store, idempotent re-runs, isolated failures."""

from __future__ import annotations

import datetime as dt
import gzip
import shutil
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path

import httpx
import orjson
import pytest
from azure.storage.blob import ContainerClient

from aifinops.config import load_settings
from aifinops.domain import Basis, CostRecord, InventoryResource, MetricSample
from aifinops.emulator import (
    EmulatedBlob,
    EmulatorState,
    Fault,
    SyncASGITransport,
    azure_transport,
    create_emulator,
)
from aifinops.errors import ConfigError, SourceError
from aifinops.jobs.collect import Collector, collection_window
from aifinops.jobs.collection_sources import month_chunks
from aifinops.jobs.serve_jobs import build_schedule
from aifinops.sources._http import RetryPolicy
from aifinops.sources.cost_management import CostManagementClient
from aifinops.sources.export_runs import BlobExports
from aifinops.sources.monitor import MonitorClient
from aifinops.sources.resource_graph import ResourceGraphClient
from aifinops.store import Store
from aifinops.store.cost_queries import read_cost_checkpoints, read_cost_freshness, read_cost_totals
from aifinops.store.inventory_queries import read_inventory
from aifinops.store.metric_sample_queries import read_metric_samples
from aifinops.store.snapshot_queries import snapshot_history
from tests.factories import SAMPLES_DIR, EmulatorToken

SAMPLES = SAMPLES_DIR
EA_ACTUAL = SAMPLES / "azure-cost-export/finops-toolkit/EA_ActualCost_Small.csv"
EA_AMORTIZED = SAMPLES / "azure-cost-export/finops-toolkit/EA_AmortizedCost_Small.csv"
FOCUS = SAMPLES / "focus/focus-sample-data/focus_sample.csv"
SEPT, OCT = dt.date(2023, 9, 1), dt.date(2023, 10, 1)
RUN_A = "aaaaaaaa-0000-0000-0000-000000000000"
RUN_B = "bbbbbbbb-0000-0000-0000-000000000000"


def _manifest(name: str, export_type: str, run_id: str, submitted: str, blobs: Sequence[str]) -> bytes:
    return orjson.dumps(
        {
            "manifestVersion": "2024-04-01",
            "exportConfig": {
                "exportName": name,
                "type": export_type,
                "dataVersion": "2021-10-01",
                "resourceId": f"/subscriptions/S1/providers/Microsoft.CostManagement/exports/{name}",
            },
            "runInfo": {
                "runId": run_id,
                "submittedTime": submitted,
                "startDate": "2023-09-01T00:00:00",
                "endDate": "2023-09-02T00:00:00",
            },
            "blobs": [{"blobName": b} for b in blobs],
        }
    )


def _write_run(
    root: Path, name: str, export_type: str, source: Path, run_id: str = RUN_A, stamp: str = "202310010600"
) -> None:
    folder = root / name / "20230901-20230930" / stamp / run_id
    folder.mkdir(parents=True)
    shutil.copy(source, folder / "part_0_0001.csv")
    submitted = f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[8:10]}:{stamp[10:]}:00Z"
    blob = f"costs/{name}/20230901-20230930/{stamp}/{run_id}/part_0_0001.csv"
    (folder / "manifest.json").write_bytes(_manifest(name, export_type, run_id, submitted, [blob]))


def _file_total(path: Path, column: str) -> Decimal:
    """The file's total as the store keeps it: each row exact to 18 decimals (docs/billed-cost.md)."""
    import csv

    with path.open(encoding="utf-8-sig", newline="") as fh:
        return sum(
            (Decimal(row[column]).quantize(Decimal("1e-18")) for row in csv.DictReader(fh)), Decimal(0)
        )


def test_export_folder_collects_actual_and_amortized_and_rerun_changes_nothing(
    store: Store, tmp_path: Path
) -> None:
    _write_run(tmp_path, "ea-actual", "ActualCost", EA_ACTUAL)
    _write_run(tmp_path, "ea-amortized", "AmortizedCost", EA_AMORTIZED)
    collector = Collector(store, export_paths=[tmp_path])
    first = collector.collect(SEPT, OCT)
    assert first.ok, first.errors
    actual = read_cost_totals(store, SEPT, OCT, basis=Basis.ACTUAL)["USD"]
    amortized = read_cost_totals(store, SEPT, OCT, basis=Basis.AMORTIZED)["USD"]
    assert actual.amount == _file_total(EA_ACTUAL, "Cost")
    assert amortized.amount == _file_total(EA_AMORTIZED, "Cost")
    (checkpoint,) = [c for c in read_cost_checkpoints(store) if c.basis is Basis.ACTUAL]
    # The manifest says one day, the run carries 09/04..09/21: the slice grows to cover every row.
    assert (checkpoint.scope, checkpoint.start, checkpoint.end) == (
        "subscriptions/s1",
        SEPT,
        dt.date(2023, 9, 22),
    )
    second = collector.collect(SEPT, OCT)
    assert second.ok
    assert read_cost_totals(store, SEPT, OCT, basis=Basis.ACTUAL)["USD"] == actual
    assert read_cost_totals(store, SEPT, OCT, basis=Basis.AMORTIZED)["USD"] == amortized
    assert len(read_cost_checkpoints(store)) == 2


def test_a_newer_run_supersedes_the_older_one(store: Store, tmp_path: Path) -> None:
    _write_run(tmp_path, "daily", "AmortizedCost", EA_AMORTIZED, RUN_A, "202310010600")
    _write_run(tmp_path, "daily", "AmortizedCost", EA_ACTUAL, RUN_B, "202310020600")
    summary = Collector(store, export_paths=[tmp_path]).collect(SEPT, OCT)
    assert [o.target.split("/")[-2] for o in summary.outcomes] == [RUN_B]
    assert read_cost_totals(store, SEPT, OCT, basis=Basis.AMORTIZED)["USD"].amount == _file_total(
        EA_ACTUAL, "Cost"
    )


def test_focus_file_yields_both_bases_and_a_bad_file_does_not_stop_the_cycle(
    store: Store, tmp_path: Path
) -> None:
    shutil.copy(FOCUS, tmp_path / "focus_sample.csv")
    shutil.copy(
        SAMPLES / "azure-cost-export/opencost/headersets_German.csv", tmp_path / "german_ActualCost.csv"
    )
    summary = Collector(store, export_paths=[tmp_path]).collect(dt.date(2024, 9, 1), dt.date(2024, 10, 1))
    assert [e for e in summary.errors if "german_ActualCost.csv" in e and "Ressourcengruppe" in e]
    september = (dt.date(2024, 9, 1), dt.date(2024, 10, 1))
    billed = read_cost_totals(store, *september, basis=Basis.ACTUAL)["USD"]
    effective = read_cost_totals(store, *september, basis=Basis.AMORTIZED)["USD"]
    assert abs(billed.amount - Decimal("20.52022672899")) < Decimal("1e-6")
    assert abs(effective.amount - Decimal("14.97651418586")) < Decimal("1e-6")
    fresh = {(f.source, f.basis) for f in read_cost_freshness(store)}
    assert fresh == {("file", Basis.ACTUAL), ("file", Basis.AMORTIZED)}


@pytest.fixture
def emulator() -> Iterator[tuple[EmulatorState, httpx.Client]]:
    state = EmulatorState()
    transport = SyncASGITransport(create_emulator(state))
    client = httpx.Client(transport=transport)
    yield state, client
    client.close()
    transport.close()


def test_blob_export_runs_are_downloaded_and_collected(
    store: Store, tmp_path: Path, emulator: tuple[EmulatorState, httpx.Client]
) -> None:
    state, http = emulator
    base = f"costs/ea-amortized/20230901-20230930/202310010600/{RUN_A}"
    state.put_blob(
        "stacct",
        "msexports",
        f"{base}/part_0_0001.csv.gz",
        EmulatedBlob(gzip.compress(EA_AMORTIZED.read_bytes())),
    )
    state.put_blob(
        "stacct",
        "msexports",
        f"{base}/manifest.json",
        EmulatedBlob(
            _manifest(
                "ea-amortized", "AmortizedCost", RUN_A, "2023-10-01T06:00:00Z", [f"{base}/part_0_0001.csv.gz"]
            )
        ),
    )
    container = ContainerClient.from_container_url(
        "https://127.0.0.1/blob/stacct/msexports", transport=azure_transport(http)
    )
    blobs = BlobExports(container, tmp_path / "downloads", prefix="costs/")
    summary = Collector(store, blob_exports=blobs).collect(SEPT, OCT)
    assert summary.ok, summary.errors
    assert read_cost_totals(store, SEPT, OCT, basis=Basis.AMORTIZED)["USD"].amount == _file_total(
        EA_AMORTIZED, "Cost"
    )
    assert state.calls["blob"] >= 3  # list, manifest, data


class _CostQuery:
    """A Cost Management query client that serves fixed records (and can fail mid-stream)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Basis, dt.date, dt.date]] = []
        self.fail_after: int | None = None

    def query(
        self,
        scope: str,
        *,
        basis: Basis,
        start: dt.date,
        end: dt.date,
        group_by: Sequence[str],
        tag_keys: Sequence[str],
    ) -> Iterator[CostRecord]:
        self.calls.append((scope, basis, start, end))
        day = start
        while day < end:
            if self.fail_after is not None and (day - start).days >= self.fail_after:
                raise SourceError(f"query of {scope} failed with HTTP 503 after retries")
            yield CostRecord(billing_day=day, basis=basis, cost=Decimal("1.25"), currency="USD", scope=scope)
            day += dt.timedelta(days=1)


def test_cost_query_is_collected_per_scope_basis_and_month(store: Store) -> None:
    client = _CostQuery()
    collector = Collector(store, cost_client=client, cost_scopes=["subscriptions/s1"])
    summary = collector.collect(dt.date(2026, 10, 30), dt.date(2026, 11, 3), sources=["cost_management"])
    assert summary.ok and len(client.calls) == 4
    assert {(c[2], c[3]) for c in client.calls} == {
        (dt.date(2026, 10, 30), dt.date(2026, 11, 1)),
        (dt.date(2026, 11, 1), dt.date(2026, 11, 3)),
    }
    window = (dt.date(2026, 10, 1), dt.date(2026, 12, 1))
    assert read_cost_totals(store, *window, basis=Basis.ACTUAL)["USD"].amount == Decimal("5")
    client.fail_after = 1
    failed = collector.collect(dt.date(2026, 11, 1), dt.date(2026, 11, 3), sources=["cost_management"])
    assert not failed.ok and all("HTTP 503" in e for e in failed.errors)
    assert read_cost_totals(store, *window, basis=Basis.ACTUAL)["USD"].amount == Decimal(
        "5"
    )  # previous data intact


def test_unknown_source_is_a_config_error(store: Store) -> None:
    with pytest.raises(ConfigError, match="unknown source"):
        Collector(store).collect(SEPT, OCT, sources=["billing"])


def test_serve_collects_each_source_on_its_own_turn_then_keeps_snapshots(
    sqlite_store: Store, tmp_path: Path
) -> None:
    _write_run(tmp_path, "ea-actual", "ActualCost", EA_ACTUAL)
    now = dt.datetime(2023, 9, 25, 12, tzinfo=dt.UTC)  # the month to date holds the file
    collector = Collector(sqlite_store, export_paths=[tmp_path], clock=lambda: now)
    settings = load_settings(
        azure={"export_paths": [str(tmp_path)], "collect_interval_seconds": {"exports": 60}}
    )
    schedule = build_schedule(settings, sqlite_store, collector=collector)
    assert sorted(schedule.jobs) == ["allocate", "budgets", "collect:exports", "prices", "provisioned"]
    assert schedule.jobs["collect:exports"].interval == dt.timedelta(seconds=60)
    assert schedule.run_due("collect:exports") is not None
    assert schedule.run_due("collect:exports") is None  # the next turn is a minute away
    assert read_cost_totals(sqlite_store, SEPT, OCT, basis=Basis.ACTUAL)["USD"].amount == _file_total(
        EA_ACTUAL, "Cost"
    )
    kept = snapshot_history(sqlite_store, "2023-09")
    assert len(kept) == 1 and kept[0].trigger == "collect"


def test_windows() -> None:
    assert collection_window(dt.date(2026, 11, 3)) == (dt.date(2026, 10, 1), dt.date(2026, 11, 4))
    assert collection_window(dt.date(2026, 11, 20)) == (dt.date(2026, 11, 1), dt.date(2026, 11, 21))
    assert month_chunks(dt.date(2026, 12, 31), dt.date(2027, 1, 2)) == [
        (dt.date(2026, 12, 31), dt.date(2027, 1, 1)),
        (dt.date(2027, 1, 1), dt.date(2027, 1, 2)),
    ]


SUB = "00000000-0000-0000-0000-0000000000aa"
ACCOUNT = (
    f"/subscriptions/{SUB}/resourceGroups/rg-ai/providers/Microsoft.CognitiveServices/accounts/aoai-prod"
)


def _seed(state: EmulatorState) -> None:
    for day in (1, 2):
        for basis, cost in ((Basis.ACTUAL, "12.5"), (Basis.AMORTIZED, "10.25")):
            state.cost_records.append(
                CostRecord(
                    billing_day=dt.date(2026, 11, day),
                    basis=basis,
                    cost=Decimal(cost),
                    currency="EUR",
                    subscription_id=SUB,
                    resource_id=ACCOUNT,
                    meter_name="gpt 4.1 Inp glbl Tokens",
                    quantity=Decimal(1000),
                )
            )
    for hour in range(3):
        state.metric_samples.append(
            MetricSample(
                resource_id=ACCOUNT.lower(),
                metric="InputTokens",
                ts=dt.datetime(2026, 11, 1, hour, tzinfo=dt.UTC),
                value=Decimal(100 + hour),
                aggregation="total",
                unit="Count",
                deployment="gpt-41",
                model="gpt-4.1",
            )
        )
    state.resources.append(
        InventoryResource(
            resource_id=ACCOUNT.lower(),
            name="aoai-prod",
            type="microsoft.cognitiveservices/accounts",
            subscription_id=SUB,
            resource_group="rg-ai",
            location="swedencentral",
            kind="OpenAI",
            sku="S0",
            tags={"team": "search"},
        )
    )


def test_real_azure_clients_against_the_emulator(store: Store) -> None:
    state = EmulatorState(today=dt.date(2026, 11, 26))
    _seed(state)
    transport = SyncASGITransport(create_emulator(state))
    with httpx.Client(transport=transport) as http:
        token, policy = EmulatorToken(state), RetryPolicy(max_attempts=2, sleep=[].append)
        collector = Collector(
            store,
            cost_client=CostManagementClient(http, token, policy=policy),
            cost_scopes=[f"subscriptions/{SUB}"],
            monitor_client=MonitorClient(http, token, policy=policy),
            monitor_resources=[ACCOUNT],
            inventory_client=ResourceGraphClient(http, token, policy=policy),
            subscriptions=[SUB],
            clock=lambda: dt.datetime(2026, 11, 3, tzinfo=dt.UTC),
        )
        window = (dt.date(2026, 11, 1), dt.date(2026, 11, 3))
        for _ in range(2):  # the second cycle changes nothing
            summary = collector.collect(*window)
            assert summary.ok, summary.errors
            assert {k: m.amount for k, m in read_cost_totals(store, *window, basis=Basis.ACTUAL).items()} == {
                "EUR": Decimal(25)
            }
            assert read_cost_totals(store, *window, basis=Basis.AMORTIZED)["EUR"].amount == Decimal("20.5")
            samples = read_metric_samples(
                store, dt.datetime(2026, 11, 1, tzinfo=dt.UTC), dt.datetime(2026, 11, 3, tzinfo=dt.UTC)
            )
            assert len(samples) == 48 and {s.deployment for s in samples} == {"gpt-41"}
            assert [s.value for s in samples[:4]] == [Decimal(100), Decimal(101), Decimal(102), Decimal(0)]
            assert [(r.name, dict(r.tags)) for r in read_inventory(store)] == [
                ("aoai-prod", {"team": "search"})
            ]
        state.inject("cost", *[Fault(503, retry_after=0)] * 8)
        failed = collector.collect(*window, sources=["cost_management"])
        assert not failed.ok and len(failed.errors) == 2
        assert read_cost_totals(store, *window, basis=Basis.ACTUAL)["EUR"].amount == Decimal(
            25
        )  # previous data intact
    transport.close()


def test_collect_command_prints_the_slices_and_exits_non_zero_on_a_failed_step(
    sqlite_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import typer
    from typer.testing import CliRunner

    from aifinops.cli.collect import collect

    exports = tmp_path / "exports"
    exports.mkdir()
    shutil.copy(EA_ACTUAL, exports / "EA_ActualCost_Small.csv")
    monkeypatch.setenv("AIFINOPS_DATABASE_URL", sqlite_store.url)
    monkeypatch.setenv("AIFINOPS_AZURE__EXPORT_PATHS", orjson.dumps([str(exports)]).decode())
    app = typer.Typer()
    app.command()(collect)
    ok = CliRunner().invoke(app, ["--from", "2023-09-01", "--to", "2023-09-30"])
    assert ok.exit_code == 0, ok.output
    assert read_cost_totals(sqlite_store, SEPT, OCT, basis=Basis.ACTUAL)["USD"].amount == _file_total(
        EA_ACTUAL, "Cost"
    )
    shutil.copy(SAMPLES / "azure-cost-export/opencost/headersets_German.csv", exports / "de_ActualCost.csv")
    failed = CliRunner().invoke(app, ["--from", "2023-09-01", "--to", "2023-09-30", "--source", "exports"])
    assert failed.exit_code == 1 and "Ressourcengruppe" in failed.output
