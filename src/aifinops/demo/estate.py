"""The demo company's Azure estate: subscription, resources with their tags, meters and the PTU deployment.

One subscription, one resource group. Azure OpenAI accounts are per region, so a deployment's account is
found from the region its events carry; the provisioned deployment has an account of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

from aifinops.demo.simulation import RESOURCE_GROUP, SUBSCRIPTION, USE_CASES, aoai_account
from aifinops.demo.simulation import arm_id as _arm
from aifinops.domain import InventoryResource
from aifinops.sources.resource_graph import DEPLOYMENT_TYPE

__all__ = [
    "APPS",
    "PTU_DEPLOYMENT",
    "PTU_METER",
    "PTU_RESERVED_UNITS",
    "PTU_UNITS",
    "RESOURCE_GROUP",
    "SUBSCRIPTION",
    "SUPPORT_PRICES",
    "DemoResource",
    "aoai_account",
    "estate",
    "inventory",
]

#: The provisioned deployment (claim-triage), its hourly PTU meter, units deployed and units reserved.
PTU_DEPLOYMENT = "gpt-4.1-ptu"
PTU_METER = "Provisioned Managed Global Unit"
PTU_UNITS = 15  # the smallest Global Provisioned deployment of gpt-4.1
PTU_RESERVED_UNITS = 10  # covered by a one-month PTU reservation; the other 5 run at the hourly price
#: The applications, each with its own Container App and API Management (Consumption) instance.
APPS: tuple[str, ...] = tuple(dict.fromkeys(uc.app for uc in USE_CASES))
_TEAMS = {uc.app: uc.team for uc in USE_CASES}


@dataclass(frozen=True, slots=True)
class DemoResource:
    """One resource of the estate: id, type, location, the Cost Management service and meter category."""

    resource_id: str
    type: str
    location: str
    service_name: str
    meter_category: str
    kind: str | None = None
    sku: str | None = None
    tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    sku_capacity: int | None = None  # a provisioned deployment's units

    @property
    def name(self) -> str:
        return self.resource_id.rsplit("/", 1)[-1]


def _aoai(region: str, provisioned: bool) -> DemoResource:
    return DemoResource(
        aoai_account(region, provisioned=provisioned),
        "microsoft.cognitiveservices/accounts",
        region,
        "Cognitive Services",
        "Azure OpenAI",
        kind="OpenAI",
        sku="S0",
        tags=MappingProxyType({"team": "ai-platform", "environment": "prod"}),
    )


def _hosting(app: str) -> dict[str, DemoResource]:
    """The container app and the API Management instance of ``app``, tagged with their owner."""
    owner = MappingProxyType({"app": app, "team": _TEAMS[app]})
    return {
        f"app:{app}": DemoResource(
            _arm("Microsoft.App/containerApps", f"ca-{app}"),
            "microsoft.app/containerapps",
            "eastus2",
            "Azure Container Apps",
            "Azure Container Apps",
            tags=owner,
        ),
        f"apim:{app}": DemoResource(
            _arm("Microsoft.ApiManagement/service", f"apim-{app}"),
            "microsoft.apimanagement/service",
            "eastus2",
            "API Management",
            "API Management",
            sku="Consumption",
            tags=owner,
        ),
    }


def _ptu_deployment(account: DemoResource) -> DemoResource:
    """The provisioned deployment in its account, its SKU capacity the units deployed (as Resource Graph
    reports ``sku.capacity``): the units ``aifinops estimate-provisioned`` takes when configuration names
    none. Deployments are not billed themselves: their account is."""
    return DemoResource(
        f"{account.resource_id}/deployments/{PTU_DEPLOYMENT}",
        DEPLOYMENT_TYPE,
        account.location,
        account.service_name,
        account.meter_category,
        sku="GlobalProvisionedManaged",
        sku_capacity=PTU_UNITS,
        tags=account.tags,
    )


def estate() -> dict[str, DemoResource]:
    """Every resource of the demo, keyed by role: ``aoai:<region>``, ``ptu``, ``ptu:deployment``, ``search``,
    ``logs``, ``app:<app>``, ``apim:<app>``, ``storage:docs`` and ``storage:legacy`` (the one without owner
    tags)."""
    regions = sorted({uc.region for uc in USE_CASES if not uc.deployment_type.is_provisioned})
    ptu_region = next(uc.region for uc in USE_CASES if uc.deployment == PTU_DEPLOYMENT)
    out = {f"aoai:{r}": _aoai(r, False) for r in regions}
    out["ptu"] = _aoai(ptu_region, True)
    out["ptu:deployment"] = _ptu_deployment(out["ptu"])
    out["search"] = DemoResource(
        _arm("Microsoft.Search/searchServices", "srch-genai-prod"),
        "microsoft.search/searchservices",
        "eastus2",
        "Azure Cognitive Search",
        "Azure Cognitive Search",
        sku="standard",
        tags=MappingProxyType({"team": "knowledge", "component": "retrieval"}),
    )
    out["logs"] = DemoResource(
        _arm("Microsoft.OperationalInsights/workspaces", "law-genai-prod"),
        "microsoft.operationalinsights/workspaces",
        "eastus2",
        "Log Analytics",
        "Log Analytics",
        sku="PerGB2018",
        tags=MappingProxyType({"team": "ai-platform"}),
    )
    for app in APPS:
        out.update(_hosting(app))
    out["storage:docs"] = DemoResource(
        _arm("Microsoft.Storage/storageAccounts", "stgenaidocs"),
        "microsoft.storage/storageaccounts",
        "eastus2",
        "Storage",
        "Storage",
        kind="StorageV2",
        sku="Standard_LRS",
        tags=MappingProxyType({"app": "doc-search", "team": "knowledge"}),
    )
    out["storage:legacy"] = DemoResource(  # nobody tagged it: its cost stays unallocated
        _arm("Microsoft.Storage/storageAccounts", "stgenailegacy01"),
        "microsoft.storage/storageaccounts",
        "eastus2",
        "Storage",
        "Storage",
        kind="StorageV2",
        sku="Standard_LRS",
    )
    return out


def inventory(resources: Mapping[str, DemoResource]) -> list[InventoryResource]:
    """The estate as Resource Graph reports it."""
    return [
        InventoryResource(
            resource_id=r.resource_id,
            name=r.name,
            type=r.type,
            subscription_id=SUBSCRIPTION,
            resource_group=RESOURCE_GROUP,
            location=r.location,
            kind=r.kind,
            sku=r.sku,
            sku_capacity=r.sku_capacity,
            tags=r.tags,
        )
        for r in resources.values()
    ]


#: Unit prices (USD) of the supporting services' meters, per unit of measure.
SUPPORT_PRICES: Mapping[str, Decimal] = MappingProxyType(
    {
        "Standard S1 Unit": Decimal("0.336"),  # per search unit-hour
        "Standard vCPU Active Usage": Decimal("0.000024"),  # per vCPU-second
        "Standard Memory Active Usage": Decimal("0.000003"),  # per GiB-second
        "Consumption Calls": Decimal("0.042"),  # per 10K calls
        "Analytics Logs Data Ingestion": Decimal("2.30"),  # per GB
        "Hot LRS Data Stored": Decimal("0.0184"),  # per GB-month
    }
)
