"""Recommendations as text: amounts name their basis once more than the estimate is shown."""

from __future__ import annotations

from aifinops.queries.recommendations_render import money_text


def test_an_estimate_alone_is_printed_plain() -> None:
    assert money_text([{"amount": "1234.565", "currency": "USD", "basis": "estimated"}]) == "1,234.56 USD"
    assert money_text([]) == "–"


def test_every_amount_names_its_basis_once_a_billed_basis_is_shown() -> None:
    amounts = [
        {"amount": "412.36", "currency": "USD", "basis": "estimated"},
        {"amount": "3419.05", "currency": "USD", "basis": "actual"},
        {"amount": "0.000001", "currency": "EUR", "basis": "amortized"},
    ]
    assert money_text(amounts) == "412.36 USD estimated, 3,419.05 USD actual, 0.00 EUR amortized"
    assert money_text(amounts[:1], places=4) == "412.3600 USD"
