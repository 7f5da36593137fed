"""The tokens driver: input + output tokens per consumer, whatever the currency of the usage."""

from __future__ import annotations

from aifinops.engine.drivers.tokens import TOKEN_COUNT, TOKENS


def test_tokens_add_input_and_output_over_currencies() -> None:
    assert TOKEN_COUNT.fields == ("input_tokens", "output_tokens")
    usage = {(("a",), "USD"): [300], (("a",), ""): [100], (("b",), "EUR"): [50], (("c",), "USD"): [0]}
    assert dict(TOKENS.weigh(usage, "USD")) == {("a",): 400, ("b",): 50, ("c",): 0}
    assert TOKENS.measures_capacity and not TOKENS.needs_weights
