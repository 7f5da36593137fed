"""Azure Resource Graph client: the AI-related inventory with tags, and the ownership matrix built from it.

Request: ``POST /providers/Microsoft.ResourceGraph/resources?api-version=2022-10-01`` with
``{subscriptions, query, options: {$top, $skipToken, resultFormat: "objectArray"}}``; the response carries
``{totalRecords, count, data, facets, resultTruncated, $skipToken}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from aifinops.domain import InventoryResource
from aifinops.errors import SourceAuthError, SourceError, SourceFormatError, ValidationError
from aifinops.sources._http import ARM_ENDPOINT, ArmClient, RetryPolicy
from aifinops.sources.azure_auth import TokenProvider

__all__ = [
    "AI_RESOURCE_TYPES",
    "API_VERSION",
    "DEPLOYMENT_TYPE",
    "OwnershipRow",
    "ResourceGraphClient",
    "inventory_query",
    "ownership_matrix",
    "parse_resources",
]

API_VERSION = "2022-10-01"
_PAGE_SIZE = 1000  # the service's maximum $top
_MAX_SUBSCRIPTIONS = 1000  # per request; more are sent in batches

#: A model deployment of an Azure OpenAI / Foundry account: its SKU capacity is a provisioned one's units.
DEPLOYMENT_TYPE = "microsoft.cognitiveservices/accounts/deployments"
#: Resource types that make up or support an AI workload.
AI_RESOURCE_TYPES: tuple[str, ...] = (
    "microsoft.cognitiveservices/accounts",
    DEPLOYMENT_TYPE,
    "microsoft.cognitiveservices/accounts/projects",
    "microsoft.machinelearningservices/workspaces",
    "microsoft.search/searchservices",
    "microsoft.app/containerapps",
    "microsoft.apimanagement/service",
    "microsoft.operationalinsights/workspaces",
    "microsoft.storage/storageaccounts",
)


def inventory_query(types: Sequence[str] = AI_RESOURCE_TYPES) -> str:
    """The KQL that lists ``types`` with the fields InventoryResource needs, in a stable order for paging."""
    quoted = ", ".join(f"'{t.lower()}'" for t in types)
    return (
        f"resources | where type in~ ({quoted}) "
        "| project id, name, type, location, resourceGroup, subscriptionId, kind, sku, tags "
        "| order by id asc"
    )


def parse_resources(payload: Mapping[str, Any]) -> tuple[list[InventoryResource], str | None]:
    """The resources of one Resource Graph page and its ``$skipToken`` (None on the last page)."""
    data = payload.get("data")
    if not isinstance(data, list):
        raise SourceFormatError("Resource Graph response has no 'data' array; send resultFormat objectArray")
    resources = [_resource(row, i) for i, row in enumerate(data)]
    token = payload.get("$skipToken")
    return resources, token if isinstance(token, str) and token else None


def _resource(row: Any, number: int) -> InventoryResource:
    if not isinstance(row, Mapping) or not row.get("id"):
        raise SourceFormatError(f"Resource Graph data[{number}] has no 'id'")
    resource_id = str(row["id"]).lower()
    parts = resource_id.split("/")
    subscription = str(row.get("subscriptionId") or _after(parts, "subscriptions") or "")
    raw_tags = row.get("tags")
    tags: Mapping[str, Any] = raw_tags if isinstance(raw_tags, Mapping) else {}
    sku = row.get("sku")
    return InventoryResource(
        resource_id=resource_id,
        name=str(row.get("name") or parts[-1]),
        type=str(row.get("type") or "").lower(),
        subscription_id=subscription.lower(),
        resource_group=str(row.get("resourceGroup") or _after(parts, "resourcegroups") or ""),
        location=str(row["location"]) if row.get("location") else None,
        kind=str(row.get("kind") or "") or None,
        sku=str(sku.get("name")) if isinstance(sku, Mapping) and sku.get("name") else None,
        tags={str(k): "" if v is None else str(v) for k, v in tags.items()},
        sku_capacity=_capacity(sku, number),
    )


def _capacity(sku: Any, number: int) -> int | None:
    value = sku.get("capacity") if isinstance(sku, Mapping) else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value) or value < 0:
        raise SourceFormatError(
            f"Resource Graph data[{number}].sku.capacity is not a whole number: {value!r}"
        )
    return int(value)


def _after(parts: list[str], name: str) -> str | None:
    return parts[parts.index(name) + 1] if name in parts[:-1] else None


class ResourceGraphClient(ArmClient):
    """Lists resources across subscriptions with Resource Graph, following ``$skipToken``."""

    def __init__(
        self,
        http: httpx.Client,
        token_provider: TokenProvider,
        *,
        endpoint: str = ARM_ENDPOINT,
        policy: RetryPolicy | None = None,
        types: Sequence[str] = AI_RESOURCE_TYPES,
    ) -> None:
        super().__init__(http, token_provider, endpoint=endpoint, policy=policy)
        self._query = inventory_query(types)

    def query_inventory(self, subscriptions: Sequence[str]) -> list[InventoryResource]:
        """Every AI-related resource in ``subscriptions`` (ids), sorted by resource id."""
        if not subscriptions:
            raise ValidationError(
                "no subscriptions to inventory; set AIFINOPS_AZURE__SUBSCRIPTIONS", field="subscriptions"
            )
        found: dict[str, InventoryResource] = {}
        for first in range(0, len(subscriptions), _MAX_SUBSCRIPTIONS):
            for resource in self._batch(list(subscriptions[first : first + _MAX_SUBSCRIPTIONS])):
                found[resource.resource_id] = resource
        return [found[k] for k in sorted(found)]

    def _batch(self, subscriptions: list[str]) -> Iterable[InventoryResource]:
        token: str | None = None
        seen: set[str] = set()
        while True:
            options: dict[str, Any] = {"$top": _PAGE_SIZE, "resultFormat": "objectArray"}
            if token:
                options["$skipToken"] = token
            body = {"subscriptions": subscriptions, "query": self._query, "options": options}
            resources, token = parse_resources(self._post(body, subscriptions))
            yield from resources
            if token is None or token in seen:  # a repeated token would loop forever
                return
            seen.add(token)

    def _post(self, body: dict[str, Any], subscriptions: list[str]) -> Mapping[str, Any]:
        request = self._request(
            "POST",
            "providers/Microsoft.ResourceGraph/resources",
            params={"api-version": API_VERSION},
            json=body,
        )
        response = self._send_with_retry(request)
        if response.status_code in (401, 403):
            raise SourceAuthError(
                f"Resource Graph refused subscriptions {subscriptions} ({response.status_code}): "
                f"{response.text[:200]}; grant the identity the 'Reader' role on them"
            )
        if not response.is_success:
            raise SourceError(
                f"Resource Graph query failed with {response.status_code}: {response.text[:300]}"
            )
        try:
            payload = json.loads(response.content)
        except ValueError as exc:
            raise SourceFormatError(f"Resource Graph response is not JSON: {exc}") from exc
        if not isinstance(payload, Mapping):
            raise SourceFormatError("Resource Graph response is not a JSON object")
        return payload


@dataclass(frozen=True, slots=True)
class OwnershipRow:
    """Who owns a resource and pays for it, read from its tags; ``missing`` lists what is not tagged."""

    resource_id: str
    name: str
    type: str
    subscription_id: str
    resource_group: str
    owner: str | None
    cost_center: str | None
    app: str | None
    environment: str | None
    missing: tuple[str, ...]

    @property
    def unowned(self) -> bool:
        return self.owner is None


def ownership_matrix(
    resources: Iterable[InventoryResource],
    *,
    owner_tags: Sequence[str] = ("owner", "Owner", "team", "Team"),  # a team tag names an owner too
    cost_center_tags: Sequence[str] = ("cost_center", "costCenter", "CostCenter", "cost-center"),
    app_tags: Sequence[str] = ("app", "App", "application", "Application"),
    env_tags: Sequence[str] = ("environment", "Environment", "env", "Env"),
) -> list[OwnershipRow]:
    """One row per resource with owner, cost center, app and environment from the first matching tag.

    Tag keys are tried in the order given, then case-insensitively; blank values count as missing.
    """
    rows = []
    for resource in resources:
        values = {
            "owner": _tag(resource.tags, owner_tags),
            "cost_center": _tag(resource.tags, cost_center_tags),
            "app": _tag(resource.tags, app_tags),
            "environment": _tag(resource.tags, env_tags),
        }
        rows.append(
            OwnershipRow(
                resource_id=resource.resource_id,
                name=resource.name,
                type=resource.type,
                subscription_id=resource.subscription_id,
                resource_group=resource.resource_group,
                missing=tuple(k for k, v in values.items() if v is None),
                **values,
            )
        )
    return sorted(rows, key=lambda r: r.resource_id)


def _tag(tags: Mapping[str, str], keys: Sequence[str]) -> str | None:
    for key in keys:
        value = tags.get(key)
        if value is not None and value.strip():
            return value.strip()
    lowered = {k.lower(): v for k, v in tags.items()}
    for key in keys:
        value = lowered.get(key.lower())
        if value is not None and value.strip():
            return value.strip()
    return None
