"""Resource Graph inventory client against the emulator, and the ownership matrix built from tags."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from aifinops.domain import InventoryResource
from aifinops.emulator import EmulatorState, Fault, SyncASGITransport, create_emulator
from aifinops.errors import SourceAuthError, SourceFormatError, ValidationError
from aifinops.sources._http import RetryPolicy
from aifinops.sources.resource_graph import (
    ResourceGraphClient,
    inventory_query,
    ownership_matrix,
    parse_resources,
)
from tests.factories import EmulatorToken


def _resource(sub: str, name: str, rtype: str, tags: dict[str, str] | None = None) -> InventoryResource:
    rid = f"/subscriptions/{sub}/resourcegroups/rg-ai/providers/{rtype}/{name}".lower()
    return InventoryResource(
        resource_id=rid,
        name=name,
        type=rtype.lower(),
        subscription_id=sub,
        resource_group="rg-ai",
        location="swedencentral",
        kind="OpenAI",
        sku="S0",
        tags=tags or {},
    )


@pytest.fixture
def state() -> EmulatorState:
    return EmulatorState(
        resources=[
            _resource(
                "s1", "aoai-prod", "Microsoft.CognitiveServices/accounts", {"owner": "ana", "env": "prod"}
            ),
            _resource("s1", "aoai-prod/gpt4o", "Microsoft.CognitiveServices/accounts/deployments"),
            _resource(
                "s1", "search-1", "Microsoft.Search/searchServices", {"Owner": "bo", "CostCenter": "42"}
            ),
            _resource("s1", "vm-1", "Microsoft.Compute/virtualMachines", {"owner": "ops"}),
            _resource("s2", "apim-1", "Microsoft.ApiManagement/service", {"OWNER": "cy", "app": "chat"}),
            _resource("s3", "logs-1", "Microsoft.OperationalInsights/workspaces"),
        ],
        graph_page_size=2,
    )


@pytest.fixture
def client(state: EmulatorState) -> Iterator[ResourceGraphClient]:
    with httpx.Client(transport=SyncASGITransport(create_emulator(state))) as http:
        yield ResourceGraphClient(
            http, EmulatorToken(state), policy=RetryPolicy(max_attempts=2, sleep=lambda _s: None)
        )


def test_inventory_lists_ai_types_of_the_given_subscriptions_across_pages(
    client: ResourceGraphClient, state: EmulatorState
) -> None:
    state.inject("graph", Fault(503))
    resources = client.query_inventory(["s1", "s2"])
    assert [r.name for r in resources] == ["aoai-prod", "aoai-prod/gpt4o", "search-1", "apim-1"]
    assert all(r.resource_id == r.resource_id.lower() for r in resources)
    assert resources[0].tags == {"owner": "ana", "env": "prod"} and resources[0].sku == "S0"
    assert state.calls["graph"] == 1 + 2  # the 503 retried, then two pages of two


def test_the_query_names_every_ai_type_and_a_stable_order() -> None:
    query = inventory_query()
    for rtype in (
        "microsoft.cognitiveservices/accounts",
        "microsoft.search/searchservices",
        "microsoft.app/containerapps",
        "microsoft.storage/storageaccounts",
    ):
        assert f"'{rtype}'" in query
    assert query.endswith("order by id asc")


def test_no_subscriptions_is_a_validation_error(client: ResourceGraphClient) -> None:
    with pytest.raises(ValidationError, match="AIFINOPS_AZURE__SUBSCRIPTIONS"):
        client.query_inventory([])


def test_forbidden_names_the_reader_role(client: ResourceGraphClient, state: EmulatorState) -> None:
    state.forbidden_scopes.add("providers/Microsoft.ResourceGraph")
    with pytest.raises(SourceAuthError, match="'Reader' role"):
        client.query_inventory(["s1"])


def test_a_table_result_format_is_refused_with_the_fix() -> None:
    with pytest.raises(SourceFormatError, match="objectArray"):
        parse_resources({"data": {"columns": [], "rows": []}})


def test_ownership_matrix_reads_tag_variants_and_flags_unowned(state: EmulatorState) -> None:
    rows = {r.name: r for r in ownership_matrix(state.resources)}
    assert (rows["aoai-prod"].owner, rows["aoai-prod"].environment) == ("ana", "prod")
    assert (rows["search-1"].owner, rows["search-1"].cost_center) == ("bo", "42")
    assert (rows["apim-1"].owner, rows["apim-1"].app) == ("cy", "chat")  # OWNER matched case-insensitively
    assert rows["logs-1"].unowned and rows["logs-1"].missing == ("owner", "cost_center", "app", "environment")
    assert rows["aoai-prod/gpt4o"].unowned


def test_blank_tags_count_as_missing_and_custom_keys_are_honoured() -> None:
    resource = _resource(
        "s1", "x", "Microsoft.App/containerApps", {"owner": " ", "team-lead": "dee", "cc": "7"}
    )
    [row] = ownership_matrix([resource], owner_tags=("owner", "team-lead"), cost_center_tags=("cc",))
    assert (row.owner, row.cost_center, row.missing) == ("dee", "7", ("app", "environment"))


def test_a_deployment_s_sku_capacity_is_kept_and_a_bad_one_names_the_row() -> None:
    row = {
        "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a"
        "/deployments/d",
        "name": "d",
        "type": "microsoft.cognitiveservices/accounts/deployments",
        "sku": {"name": "GlobalProvisionedManaged", "capacity": 15},
    }
    ((found,), _) = parse_resources({"data": [row]})
    assert (found.sku, found.sku_capacity) == ("GlobalProvisionedManaged", 15)
    for bad in (1.5, "15", -1, True):
        with pytest.raises(SourceFormatError, match=r"data\[0\]\.sku\.capacity"):
            parse_resources({"data": [{**row, "sku": {"name": "x", "capacity": bad}}]})
