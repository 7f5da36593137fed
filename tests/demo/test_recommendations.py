"""The demo month's deliberate waste is found in the levers' order, with money."""

from __future__ import annotations

from decimal import Decimal

from aifinops.demo.month import demo_recommendations
from aifinops.store import Store


def test_the_demo_month_waste_is_found_in_order_with_money(demo_store: Store) -> None:
    doc, top3 = demo_recommendations(demo_store, year=2026, month=10)
    found = [
        (r["lever"], r["scope"].get("use_case") or r["scope"].get("deployment"))
        for r in doc["recommendations"]
    ]
    expected = [
        ("loops", "doc-qa"),  # the loop day
        ("retries", "doc-qa"),  # timeouts after the prompt was billed
        ("caching", "doc-qa"),  # huge uncached context on o3
        ("retrieval", "doc-qa"),  # 10 % of its questions fall back to a wide search, and fail
        ("batch", "invoice-extraction"),  # batchable work on the interactive deployment
        ("provisioning", "gpt-4.1-ptu"),  # the PTU at 45 % utilisation
    ]
    assert [f for f in found if f in expected] == expected
    for rec in doc["recommendations"]:
        if (rec["lever"], rec["scope"].get("use_case") or rec["scope"].get("deployment")) in expected:
            assert sum(Decimal(a["amount"]) for a in rec["savings"]) > 0
    ptu = next(r for r in doc["recommendations"] if r["lever"] == "provisioning")
    assert 0.35 < ptu["figures"]["utilisation"] < 0.55 and ptu["figures"]["units"] == 15
    assert Decimal(top3["savings"][0]["amount"]) > 0 and len(top3["scenario"]) == 3
