"""The requests driver: requests per consumer, whatever the currency of the usage."""

from __future__ import annotations

from aifinops.engine.drivers.requests import REQUEST_COUNT, REQUESTS


def test_requests_count_per_consumer() -> None:
    assert REQUEST_COUNT.fields == ("requests",)
    usage = {(("rag",), "USD"): [30], (("rag",), "EUR"): [2], (("chat",), "USD"): [500]}
    assert dict(REQUESTS.weigh(usage, "USD")) == {("rag",): 32, ("chat",): 500}
    assert REQUESTS.measures_capacity
