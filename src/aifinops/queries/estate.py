"""The AI estate of a period (``/api/estate``, ``aifinops discover``, the review): apps → use cases →
deployments → accounts from the usage, and the shared resources behind them (AI Search, API Management,
Log Analytics, Storage, compute) from the inventory and the stored allocation, with owners and cost centers.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from aifinops.domain import Basis, DeploymentType, InventoryResource, from_nanos, plain
from aifinops.engine.allocation import AllocationResult, Bucket
from aifinops.engine.cost_drivers import service_category
from aifinops.queries.cost_drivers import NO_USE_CASE
from aifinops.sources.resource_graph import DEPLOYMENT_TYPE, OwnershipRow, ownership_matrix
from aifinops.store import Store
from aifinops.store.allocation_queries import read_allocation
from aifinops.store.estate_queries import usage_paths
from aifinops.store.inventory_queries import read_inventory

__all__ = ["SHARED_KINDS", "estate_document"]

#: Shared resources by service category, as the estate names them.
SHARED_KINDS = {
    "retrieval": "AI Search",
    "gateway": "API Management",
    "telemetry": "Log Analytics",
    "storage": "Storage",
    "compute": "Compute",
}
_NO_APP = "(no app)"


def _money(per_currency: dict[str, int], basis: Basis) -> list[dict[str, str]]:
    return [
        {"amount": plain(from_nanos(n)), "currency": c, "basis": basis.value}
        for c, n in sorted(per_currency.items())
    ]


def _owner_json(row: OwnershipRow | None) -> dict[str, Any]:
    if row is None:
        return {
            "owner": None,
            "cost_center": None,
            "in_inventory": False,
            "missing": ["owner", "cost_center"],
        }
    return {
        "owner": row.owner,
        "cost_center": row.cost_center,
        "in_inventory": True,
        "missing": list(row.missing),
    }


class _Node:
    """A node of the estate with the names it links to and what it cost (estimated, per currency)."""

    def __init__(self) -> None:
        self.links: set[str] = set()
        self.cost_centers: set[str] = set()
        self.teams: set[str] = set()
        self.nanos: dict[str, int] = defaultdict(int)
        self.events = 0

    def add(self, row: dict[str, Any], link: str | None) -> None:
        if link is not None:
            self.links.add(link)
        if row["cost_center"]:
            self.cost_centers.add(row["cost_center"])
        if row["team"]:
            self.teams.add(row["team"])
        if row["currency"]:
            self.nanos[row["currency"]] += int(row["cost_nanos"] or 0)
        self.events += int(row["events"])

    def json(self, key: str, name: str, link_key: str) -> dict[str, Any]:
        return {
            key: name,
            link_key: sorted(self.links),
            "cost_centers": sorted(self.cost_centers),
            "teams": sorted(self.teams),
            "events": self.events,
            "estimated": _money(self.nanos, Basis.ESTIMATED),
        }


def _shared_use(result: AllocationResult) -> dict[str, dict[tuple[str, str], int]]:
    """Per resource id: (use case, currency) → allocated nanos; idle and unallocated under their bucket."""
    at = result.dimensions.index("use_case") if "use_case" in result.dimensions else None
    out: dict[str, dict[tuple[str, str], int]] = defaultdict(lambda: defaultdict(int))
    for part in result.parts:
        rid = (result.records[part.record].resource_id or "").lower()
        if part.bucket is not Bucket.ALLOCATED or at is None:
            out[rid][(f"({part.bucket.value})", part.currency)] += sum(part.amounts)
            continue
        for owner, amount in zip(part.owners, part.amounts, strict=True):
            out[rid][(owner[at] or NO_USE_CASE, part.currency)] += amount
    return out


def _shared(
    inventory: Iterable[OwnershipRow], use: dict[str, dict[tuple[str, str], int]]
) -> list[dict[str, Any]]:
    items = []
    for row in inventory:
        kind = SHARED_KINDS.get(service_category(row.resource_id, None))
        if kind is None:
            continue
        users = use.get(row.resource_id.lower(), {})
        items.append(
            {
                "resource_id": row.resource_id,
                "name": row.name,
                "kind": kind,
                "type": row.type,
                "app": row.app,
                **_owner_json(row),
                "used_by": [
                    {
                        "use_case": uc,
                        "amount": plain(from_nanos(n)),
                        "currency": c,
                        "basis": Basis.ACTUAL.value,
                    }
                    for (uc, c), n in sorted(users.items(), key=lambda kv: -kv[1])
                ],
            }
        )
    return sorted(items, key=lambda i: (i["kind"], i["name"]))


def _deployment_units(resources: Iterable[InventoryResource]) -> dict[tuple[str, str], int]:
    """The SKU capacity of each deployment of the inventory by (account id, deployment name)."""
    return {
        (r.resource_id.lower().rsplit("/deployments/", 1)[0], r.name): r.sku_capacity
        for r in resources
        if r.type.lower() == DEPLOYMENT_TYPE and r.sku_capacity is not None
    }


_PROVISIONED = frozenset(t.value for t in DeploymentType if t.is_provisioned)


def _provisioned_units(
    name: str, accounts: Iterable[str], models: set[tuple[str, str]], units: dict[tuple[str, str], int]
) -> int | None:
    """The units of a provisioned deployment as its account's inventory says; None for pay-as-you-go ones
    (their SKU capacity is a rate limit, not units) or where the inventory does not hold it."""
    if not any(t in _PROVISIONED for _, t in models):
        return None
    return next((units[(a, name)] for a in sorted(accounts) if (a, name) in units), None)


def estate_document(
    store: Store, *, start: dt.date, end: dt.date, allocation: AllocationResult | None = None
) -> dict[str, Any]:
    """The estate of the UTC days ``[start, end)``: every app, use case, deployment and account that had
    usage, the shared resources in the inventory with who used them (allocated cost, actual basis), and the
    owner and cost center of each resource (from its tags) and of each app (from its usage).
    ``allocation``: the stored actual allocation of those days, when the caller has read it already."""
    paths = usage_paths(store, start, end)
    resources = read_inventory(store)
    inventory = {r.resource_id.lower(): r for r in ownership_matrix(resources)}
    units = _deployment_units(resources)
    apps: dict[str, _Node] = defaultdict(_Node)
    use_cases: dict[str, _Node] = defaultdict(_Node)
    deployments: dict[str, _Node] = defaultdict(_Node)
    models: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for row in paths:
        app, uc = row["app"] or _NO_APP, row["use_case"] or NO_USE_CASE
        deployment, account = row["deployment"], (row["resource_id"] or "").lower()
        apps[app].add(row, uc)
        # Tool, retrieval and other calls without a model deployment count for their use case only.
        use_cases[uc].add(row, deployment if row["deployment"] else None)
        if row["deployment"]:
            deployments[deployment].add(row, account or None)
            models[deployment].add((row["model"] or "", row["deployment_type"] or ""))
    accounts = sorted({a for d in deployments.values() for a in d.links})
    if allocation is None:
        allocation = read_allocation(store, start, end, basis=Basis.ACTUAL)
    use = _shared_use(allocation)
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "apps": [apps[a].json("app", a, "use_cases") for a in sorted(apps)],
        "use_cases": [
            {
                **use_cases[u].json("use_case", u, "deployments"),
                "apps": sorted(a for a in apps if u in apps[a].links),
            }
            for u in sorted(use_cases)
        ],
        "deployments": [
            {
                **deployments[d].json("deployment", d, "accounts"),
                "models": [{"model": m, "deployment_type": t} for m, t in sorted(models[d])],
                "provisioned_units": _provisioned_units(d, deployments[d].links, models[d], units),
            }
            for d in sorted(deployments)
        ],
        "accounts": [
            {
                "resource_id": a,
                "name": inventory[a].name if a in inventory else a.rsplit("/", 1)[-1],
                **_owner_json(inventory.get(a)),
            }
            for a in accounts
        ],
        "shared_resources": _shared(inventory.values(), use),
        "unowned_resources": sorted(r.resource_id for r in inventory.values() if r.owner is None),
    }
