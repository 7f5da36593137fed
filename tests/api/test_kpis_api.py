"""/api/kpis: cost per successful task estimated and fully loaded from the stored allocation, per tenant."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aifinops.api.app import create_app
from aifinops.config import load_settings
from aifinops.domain import Basis, CostRecord, from_nanos
from aifinops.engine.allocation import Bucket
from aifinops.engine.allocation_rules import AllocationRule, Method, RecordMatch
from aifinops.jobs.allocate import allocate_period
from aifinops.store import Store
from aifinops.store.allocation_queries import read_allocation
from aifinops.store.keys import KeyStore

OCTOBER = {"period": "2026-10"}


class Api:
    """The app over the allocated month, with a key that sees everything and one limited to contoso."""

    def __init__(self, client: TestClient, admin: str, contoso: str) -> None:
        self.client, self.admin, self.contoso = client, admin, contoso

    def get(self, path: str, *, tenant: bool = False, **params: str) -> Any:
        key = self.contoso if tenant else self.admin
        return self.client.get(path, params=params, headers={"Authorization": f"Bearer {key}"})

    def kpis(self, *, tenant: bool = False, **params: str) -> dict[str, Any]:
        r = self.get("/api/kpis", tenant=tenant, **params)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


@pytest.fixture
def api(allocated_store: Store) -> Iterator[Api]:
    keys = KeyStore(allocated_store)
    _, admin = keys.create(name="reader", scopes={"read"})
    _, contoso = keys.create(name="contoso-reader", scopes={"read"}, tenant="contoso")
    # Auckland is UTC+13 in October: October's calendar days there start on 2026-09-30 in UTC.
    settings = load_settings(timezone="Pacific/Auckland")
    with TestClient(create_app(settings, store=allocated_store)) as client:
        yield Api(client, admin, contoso)


def _by(items: list[dict[str, Any]], key: str = "use_case") -> dict[str, dict[str, Any]]:
    return {i[key]: i for i in items}


def _money(*entries: tuple[str, str]) -> list[dict[str, str]]:
    return [{"amount": a, "currency": "USD", "basis": b} for a, b in entries]


def _allocated_by_use_case(store: Store, basis: Basis, tenant: str | None = None) -> dict[str, str]:
    """October's allocated lines summed per use case by hand, from the stored result."""
    result = read_allocation(store, dt.date(2026, 10, 1), dt.date(2026, 11, 1), basis=basis)
    sums: dict[str, int] = defaultdict(int)
    for line in result.lines:
        if line.bucket is Bucket.ALLOCATED and tenant in (None, line.dims[1]):
            sums[line.dims[0]] += line.amount_nanos
    return {uc: format(from_nanos(n), "f") for uc, n in sums.items()}


def test_kpis_carry_the_fully_loaded_bases_beside_the_estimate(api: Api, allocated_store: Store) -> None:
    body = api.kpis(**OCTOBER)
    assert body["bases"] == ["estimated", "actual", "amortized"] and body["notes"] == []
    # October's calendar days in the configured zone: the record billed on 2026-09-30 is not in them.
    assert body["billing_days"] == {"start": "2026-10-01", "end": "2026-11-01"}
    items = _by(body["items"])
    assert set(items) == {"uc-a", "uc-b"}
    a, b = items["uc-a"], items["uc-b"]
    assert (a["tasks"], a["by_outcome"], a["success_rate"]) == (2, {"failed": 1, "succeeded": 1}, "0.5000")
    # Three events of 0.00325 estimated; a quarter each of 8 actual and 6 amortized.
    assert a["cost"] == _money(("0.00975", "estimated"), ("6", "actual"), ("4.5", "amortized"))
    assert a["cost_per_successful_task"] == a["cost"]  # one success
    # The failed task holds a third of the estimate, so a third of the allocated cost.
    assert a["cost_of_failed_and_abandoned"] == _money(
        ("0.00325", "estimated"), ("2", "actual"), ("1.5", "amortized")
    )
    assert b["cost"] == _money(("0.00325", "estimated"), ("2", "actual"), ("1.5", "amortized"))
    assert b["cost_of_failed_and_abandoned"] == _money(
        ("0", "estimated"), ("0", "actual"), ("0", "amortized")
    )
    assert (a["avg_steps"], a["avg_retries"], a["avg_input_tokens"], a["avg_output_tokens"]) == (
        "2.5000",
        "0.0000",
        "1500.0000",
        "150.0000",
    )
    assert a["unpriced_events"] == 0 and a["value_per_cost"] == []
    for basis in (Basis.ACTUAL, Basis.AMORTIZED):
        by_hand = _allocated_by_use_case(allocated_store, basis)
        served = {
            uc: next(m["amount"] for m in i["cost"] if m["basis"] == basis.value) for uc, i in items.items()
        }
        assert served == by_hand


def test_a_basis_can_be_chosen_and_a_missing_one_is_explained(api: Api) -> None:
    actual = api.kpis(basis="actual", **OCTOBER)
    assert actual["bases"] == ["actual"]
    assert _by(actual["items"])["uc-b"]["cost_per_successful_task"] == _money(("2", "actual"))
    by_app = api.kpis(basis="estimated,actual", group_by="app", **OCTOBER)
    assert by_app["bases"] == ["estimated"]
    (note,) = by_app["notes"]
    assert (note["basis"], note["reason"]) == ("actual", "dimensions")
    assert "['use_case', 'tenant']" in note["detail"] and "['app']" in note["detail"]
    assert {m["basis"] for i in by_app["items"] for m in i["cost"]} == {"estimated"}
    november = api.kpis(basis="amortized", period="2026-11")
    assert (november["bases"], november["items"]) == ([], [])
    assert [(n["basis"], n["reason"]) for n in november["notes"]] == [("amortized", "no_allocation")]
    assert "2026-11-01..2026-12-01" in november["notes"][0]["detail"]
    assert api.kpis(period="2026-11")["notes"] == []  # the default serves what has data, silently


@pytest.mark.parametrize("value", ["list", "estimated,bogus", "", "usage"])
def test_an_unknown_basis_is_a_problem_naming_the_field(api: Api, value: str) -> None:
    r = api.get("/api/kpis", basis=value, **OCTOBER)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"] == "basis"
    assert "estimated" in r.json()["detail"]


def test_a_tenant_key_sees_only_its_tenants_allocated_cost(api: Api, allocated_store: Store) -> None:
    items = _by(api.kpis(tenant=True, **OCTOBER)["items"])
    a, b = items["uc-a"], items["uc-b"]
    assert (a["tasks"], a["by_outcome"]) == (1, {"succeeded": 1})  # fabrikam's failed task is not shown
    assert a["cost"] == _money(("0.0065", "estimated"), ("4", "actual"), ("3", "amortized"))
    assert a["cost_of_failed_and_abandoned"] == _money(
        ("0", "estimated"), ("0", "actual"), ("0", "amortized")
    )
    assert b["cost_per_successful_task"] == _money(
        ("0.00325", "estimated"), ("2", "actual"), ("1.5", "amortized")
    )
    by_hand = _allocated_by_use_case(allocated_store, Basis.ACTUAL, tenant="contoso")
    assert {uc: i["cost"][1]["amount"] for uc, i in items.items()} == by_hand


def test_without_tenant_in_the_allocation_a_tenant_key_gets_no_allocated_basis(
    api: Api, allocated_store: Store
) -> None:
    rule = AllocationRule(
        "tagged",
        Method.DIRECT,
        match=RecordMatch(tags={"use_case": "*"}),
        owner_tags={"use_case": "use_case"},
    )
    record = CostRecord(
        dt.date(2026, 10, 3), Basis.AMORTIZED, Decimal(9), "USD", resource_id="/vm", tags={"use_case": "uc-b"}
    )
    allocate_period(
        allocated_store,
        dt.date(2026, 10, 1),
        dt.date(2026, 11, 1),
        basis=Basis.AMORTIZED,
        dimensions=("use_case",),
        records=[record],
        rules=[rule],
    )
    everyone = api.kpis(**OCTOBER)
    assert everyone["bases"] == ["estimated", "actual", "amortized"]
    assert _by(everyone["items"])["uc-b"]["cost"][2] == {
        "amount": "9",
        "currency": "USD",
        "basis": "amortized",
    }
    limited = api.kpis(tenant=True, basis="estimated,actual,amortized", **OCTOBER)
    assert limited["bases"] == ["estimated", "actual"]
    assert [(n["basis"], n["reason"]) for n in limited["notes"]] == [("amortized", "tenant")]
    assert {m["basis"] for i in limited["items"] for m in i["cost"]} == {"estimated", "actual"}


def test_the_snapshot_kpis_carry_the_allocated_bases(api: Api) -> None:
    snapshot = api.get("/api/snapshot", fresh="true", **OCTOBER).json()
    assert snapshot["kpi_bases"] == ["estimated", "actual", "amortized"]
    assert snapshot["kpis"] == api.kpis(**OCTOBER)["items"]
    assert {(t["bucket"], t["amount"]) for t in snapshot["allocation"]["actual"]} == {("allocated", "8")}
    limited = api.get("/api/snapshot", tenant=True, **OCTOBER).json()
    assert limited["kpis"] == api.kpis(tenant=True, **OCTOBER)["items"]


def test_allocation_kpis_are_served_by_the_same_reader(api: Api) -> None:
    body = api.get("/api/allocation/kpis", **OCTOBER).json()
    assert body["bases"] == ["estimated", "actual", "amortized"]
    # Tasks of the billing days in UTC: the same tasks here, so the same amounts as /api/kpis.
    costs = {(c["basis"]): c for c in _by(body["groups"])["uc-a"]["costs"]}
    assert (costs["actual"]["cost"], costs["actual"]["failed_and_abandoned"]) == ("6", "2")
    assert (costs["amortized"]["cost_per_successful_task"], costs["estimated"]["cost"]) == ("4.5", "0.00975")
    assert api.get("/api/allocation/kpis", tenant=True, **OCTOBER).status_code == 403
