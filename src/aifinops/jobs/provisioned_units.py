"""Provisioned (PTU) deployments as the collected inventory knows them: units from each deployment's SKU
capacity, deployment type from its SKU name, region from its location. Configuration takes precedence
(:func:`with_inventory`); the inventory is read when the estimate runs."""

from __future__ import annotations

from dataclasses import dataclass

from aifinops.config import ProvisionedDeployment
from aifinops.domain import InventoryResource
from aifinops.sources.resource_graph import DEPLOYMENT_TYPE
from aifinops.store.inventory_queries import read_inventory
from aifinops.store.store import Store

__all__ = ["DEPLOYMENT_TYPE", "InventoryUnits", "inventory_units", "with_inventory"]

#: Provisioned SKU names of Azure OpenAI / Foundry deployments → deployment type.
_PROVISIONED_SKUS = {
    "globalprovisionedmanaged": "global_provisioned",
    "datazoneprovisionedmanaged": "data_zone_provisioned",
    "provisionedmanaged": "provisioned",
}


@dataclass(frozen=True, slots=True)
class InventoryUnits:
    """A provisioned deployment of the inventory (``problem``: why its units cannot be taken from it)."""

    units: int | None
    deployment_type: str | None
    region: str | None
    problem: str | None = None


def _one(name: str, found: list[InventoryResource]) -> InventoryUnits:
    shapes = {(r.sku_capacity, _PROVISIONED_SKUS[(r.sku or "").lower()], r.location) for r in found}
    if len(shapes) > 1:
        return InventoryUnits(
            None,
            None,
            None,
            problem=f"the inventory holds {len(found)} provisioned deployments named {name} that differ: "
            f"set provisioned.deployments.{name}.units",
        )
    ((units, kind, region),) = shapes
    if not units:
        return InventoryUnits(
            None,
            kind,
            region,
            problem=f"the inventory has no SKU capacity for {name}: set provisioned.deployments.{name}.units",
        )
    return InventoryUnits(units, kind, region)


def inventory_units(store: Store) -> dict[str, InventoryUnits]:
    """The provisioned deployments of the stored inventory by deployment name."""
    by_name: dict[str, list[InventoryResource]] = {}
    for r in read_inventory(store, resource_type=DEPLOYMENT_TYPE):
        if (r.sku or "").lower() in _PROVISIONED_SKUS:
            by_name.setdefault(r.name, []).append(r)
    return {name: _one(name, found) for name, found in by_name.items()}


def with_inventory(
    conf: ProvisionedDeployment, found: InventoryUnits | None
) -> tuple[ProvisionedDeployment, str]:
    """``conf`` completed from the inventory where it says nothing; and where its units come from."""
    if found is None or found.problem is not None:
        return conf, "configuration"
    update = {
        k: v
        for k, v in (
            ("units", found.units),
            ("deployment_type", found.deployment_type),
            ("region", found.region),
        )
        if getattr(conf, k) is None and v is not None
    }
    merged = conf.model_copy(update=update)
    if merged.units is not None and merged.reserved_units > merged.units:
        return conf, "configuration"
    return merged, "inventory" if "units" in update else "configuration"
