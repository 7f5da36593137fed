"""The price book as the Prices view reads it: provenance, effective dates, whether in effect, age."""

from __future__ import annotations

import dataclasses
import datetime as dt

from aifinops.queries.price_book import price_book_document
from aifinops.store import Store
from aifinops.store.prices import PriceStore
from tests.factories import PRICE_START, gpt4o_prices


def test_every_price_with_its_source_dates_and_age(store: Store) -> None:
    later = PRICE_START + dt.timedelta(days=100)
    ended = [dataclasses.replace(p, effective_end=later) for p in gpt4o_prices()]
    newer = [
        dataclasses.replace(p, effective_start=later, source="contract", price=p.price / 2)
        for p in gpt4o_prices()
    ]
    PriceStore(store).save([*ended, *newer], now=PRICE_START)
    now = PRICE_START + dt.timedelta(days=130)
    doc = price_book_document(store, now=now)
    assert doc["prices"] == 6 and doc["sources"] == ["contract", "test"]
    contract = [i for i in doc["items"] if i["source"] == "contract"]
    assert {(i["in_effect"], i["age_days"], i["effective_end"]) for i in contract} == {(True, 30, None)}
    old = [i for i in doc["items"] if i["source"] == "test"]
    assert {(i["in_effect"], i["age_days"]) for i in old} == {(False, 130)}
    output = next(i for i in contract if i["meter_kind"] == "output")
    assert output["price"] == {"amount": "5", "currency": "USD", "basis": "list"}
    assert output["unit"] == "1,000,000 tokens" and output["loaded_at"].startswith("2025-01-01")
    assert price_book_document(store, now=now, model="gpt-4o-mini")["items"] == []
