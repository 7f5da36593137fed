"""Inventory in the store on SQLite and PostgreSQL: resources replaced per subscription."""

from __future__ import annotations

import pytest

from aifinops.domain import InventoryResource
from aifinops.errors import ValidationError
from aifinops.store import Store
from aifinops.store.inventory import InventoryStore
from aifinops.store.inventory_queries import read_inventory


def test_inventory_is_replaced_per_subscription(store: Store) -> None:
    def res(name: str, sub: str) -> InventoryResource:
        return InventoryResource(
            resource_id=f"/subscriptions/{sub}/resourcegroups/rg/providers/microsoft.cognitiveservices/accounts/{name}",
            name=name,
            type="Microsoft.CognitiveServices/accounts",
            subscription_id=sub,
            resource_group="rg",
            kind="OpenAI",
            tags={"team": "search"},
        )

    InventoryStore(store).replace(["s1", "s2"], [res("a", "s1"), res("b", "s1"), res("c", "s2")])
    InventoryStore(store).replace(["s1"], [res("a", "s1")])
    stored = read_inventory(store, resource_type="microsoft.cognitiveservices/accounts")
    assert [(r.name, r.subscription_id, dict(r.tags)) for r in stored] == [
        ("a", "s1", {"team": "search"}),
        ("c", "s2", {"team": "search"}),
    ]
    with pytest.raises(ValidationError, match="not in subscriptions"):
        InventoryStore(store).replace(["s9"], [res("a", "s1")])
