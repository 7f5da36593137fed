"""Cost Management Query client: parsing the real spec examples, and the real client against the emulator."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aifinops.domain import Basis, CostRecord
from aifinops.emulator import EmulatorState, Fault, SyncASGITransport, create_emulator
from aifinops.errors import SourceAuthError, SourceError, SourceFormatError, ValidationError
from aifinops.sources._http import RetryPolicy
from aifinops.sources.cost_management import CostManagementClient, month_windows, parse_query_response
from tests.factories import EmulatorToken

SAMPLES = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "samples"
    / "cost-management-query"
    / "azure-rest-api-specs"
)
SUB = "00000000-0000-0000-0000-0000000000aa"
ACCOUNT = (
    f"/subscriptions/{SUB}/resourceGroups/rg-AI/providers/Microsoft.CognitiveServices/accounts/AOAI-Prod"
)


def _sample(name: str) -> dict[str, Any]:
    document = json.loads((SAMPLES / name).read_text(encoding="utf-8"), parse_float=Decimal)
    body: dict[str, Any] = document["responses"]["200"]["body"]
    return body


@pytest.fixture
def state() -> EmulatorState:
    return EmulatorState(today=dt.date(2026, 11, 26))


@pytest.fixture
def http(state: EmulatorState) -> Iterator[httpx.Client]:
    with httpx.Client(transport=SyncASGITransport(create_emulator(state))) as client:
        yield client


def _client(
    http: httpx.Client, state: EmulatorState, waits: list[float] | None = None
) -> CostManagementClient:
    policy = RetryPolicy(max_attempts=3, sleep=(waits if waits is not None else []).append)
    return CostManagementClient(http, EmulatorToken(state), policy=policy)


def _record(
    day: dt.date,
    cost: str,
    *,
    meter: str = "gpt 4.1 Inp glbl Tokens",
    currency: str = "EUR",
    basis: Basis = Basis.ACTUAL,
    resource: str = ACCOUNT,
) -> CostRecord:
    return CostRecord(
        billing_day=day,
        basis=basis,
        cost=Decimal(cost),
        currency=currency,
        subscription_id=SUB,
        resource_id=resource,
        meter_name=meter,
        quantity=Decimal("1000"),
        tags={"team": "search"},
    )


# --- parsing the real spec examples ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "rows", "total", "has_next"),
    [
        ("BillingAccountQuery.json", 4, "213.4913498511025", True),
        ("BillingAccountForecast.json", 4, "220.94500521261938", True),
    ],
)
def test_daily_spec_examples_parse_to_exact_decimal_totals(
    name: str, rows: int, total: str, has_next: bool
) -> None:
    records, link = parse_query_response(
        _sample(name), basis=Basis.ACTUAL, scope="providers/Microsoft.Billing/x"
    )
    assert len(records) == rows
    # FACTS.md gives the totals to ~1e-9; the parse itself is exact (Decimal straight from the JSON text)
    assert abs(sum((r.cost for r in records), Decimal(0)) - Decimal(total)) < Decimal("1e-9")
    assert records[0].cost == _sample(name)["properties"]["rows"][0][0]
    assert {r.currency for r in records} == {"USD"}
    assert records[0].billing_day == dt.date(2018, 3, 31)
    assert (link is not None and "$skiptoken=AQAAAA%3D%3D" in link) is has_next


def test_daily_rows_keep_one_record_per_date_and_resource_group() -> None:
    records, _ = parse_query_response(_sample("BillingAccountQuery.json"), basis=Basis.ACTUAL, scope="x")
    assert [(r.billing_day, r.resource_group) for r in records] == [
        (dt.date(2018, 3, 31), "JapanUnifia-Trial"),
        (dt.date(2018, 3, 31), "RVIIOT-TRIAL"),
        (dt.date(2018, 3, 31), "VSTSHOL-1595322048000"),
        (dt.date(2018, 3, 31), "gs-stms-dev"),
    ]


@pytest.mark.parametrize(
    ("name", "rows", "total", "has_next"),
    [
        ("BillingAccountQueryGrouping.json", 3, "213.3245726478052", True),
        ("SubscriptionQueryGrouping.json", 4, "220.94500521261938", False),
    ],
)
def test_undated_spec_examples_need_a_day_and_then_parse(
    name: str, rows: int, total: str, has_next: bool
) -> None:
    with pytest.raises(SourceFormatError, match="UsageDate"):
        parse_query_response(_sample(name), basis=Basis.ACTUAL, scope="s")
    records, link = parse_query_response(
        _sample(name), basis=Basis.AMORTIZED, scope="s", day=dt.date(2026, 10, 1)
    )
    assert len(records) == rows and (link is not None) is has_next
    assert abs(sum((r.cost for r in records), Decimal(0)) - Decimal(total)) < Decimal("1e-9")
    assert {(r.basis, r.billing_day) for r in records} == {(Basis.AMORTIZED, dt.date(2026, 10, 1))}


def test_columns_are_found_by_name_in_any_order_and_case() -> None:
    body = {
        "properties": {
            "nextLink": None,
            "columns": [
                {"name": "currency", "type": "String"},
                {"name": "RESOURCEID", "type": "String"},
                {"name": "BillingMonth", "type": "Datetime"},
                {"name": "TagKey", "type": "String"},
                {"name": "TagValue", "type": "String"},
                {"name": "usagequantity", "type": "Number"},
                {"name": "preTaxCost", "type": "Number"},
            ],
            "rows": [["chf", ACCOUNT, "2026-11-01T00:00:00", "team", "search", 12, 0.1]],
        }
    }
    [record], link = parse_query_response(body, basis=Basis.ACTUAL, scope="subscriptions/s")
    assert link is None
    assert (record.currency, record.cost, record.quantity) == ("CHF", Decimal("0.1"), Decimal(12))
    assert record.billing_day == dt.date(2026, 11, 1)
    assert record.resource_id == ACCOUNT.lower()
    assert (record.subscription_id, record.resource_group) == (SUB, "rg-ai")
    assert dict(record.tags) == {"team": "search"}


def test_a_usd_only_cost_column_is_usd_and_a_missing_currency_is_an_error() -> None:
    usd = {"properties": {"columns": [{"name": "CostUSD"}, {"name": "UsageDate"}], "rows": [[2.5, 20261102]]}}
    [record], _ = parse_query_response(usd, basis=Basis.ACTUAL, scope="s")
    assert (record.cost, record.currency) == (Decimal("2.5"), "USD")
    no_currency = {
        "properties": {"columns": [{"name": "Cost"}, {"name": "UsageDate"}], "rows": [[1, 20261102]]}
    }
    with pytest.raises(SourceFormatError, match="no Currency column"):
        parse_query_response(no_currency, basis=Basis.ACTUAL, scope="s")


def test_a_short_row_names_the_row_and_the_scope() -> None:
    body = {
        "properties": {
            "columns": [{"name": "Cost"}, {"name": "UsageDate"}, {"name": "Currency"}],
            "rows": [[1, 20261101, "USD"], [2, 20261102]],
        }
    }
    with pytest.raises(SourceFormatError, match=r"for subscriptions/s, row 1"):
        parse_query_response(body, basis=Basis.ACTUAL, scope="subscriptions/s")


@given(st.dates(dt.date(2014, 5, 1), dt.date(2030, 1, 1)), st.integers(1, 800))
def test_month_windows_tile_the_range_within_the_daily_limit(start: dt.date, days: int) -> None:
    end = start + dt.timedelta(days=days)
    windows = month_windows(start, end)
    assert windows[0][0] == start and windows[-1][1] == end
    assert all(a[1] == b[0] for a, b in itertools.pairwise(windows))
    assert all(0 < (b - a).days <= 31 and (b - dt.timedelta(days=1)).month == a.month for a, b in windows)


# --- the client against the emulator --------------------------------------------------------------


def test_query_spans_months_follows_next_links_and_keeps_every_cent(
    http: httpx.Client, state: EmulatorState
) -> None:
    days = [dt.date(2026, 9, 20) + dt.timedelta(days=i) for i in range(60)]
    state.cost_records = [
        _record(d, f"{i}.123456789", meter=m)
        for i, d in enumerate(days)
        for m in ("gpt 4.1 Inp glbl Tokens", "gpt 4.1 Outp glbl Tokens")
    ]
    state.cost_page_size = 7
    records = list(
        _client(http, state).query(
            f"subscriptions/{SUB}", basis=Basis.ACTUAL, start=days[0], end=days[-1] + dt.timedelta(days=1)
        )
    )
    assert len(records) == 120
    assert sum((r.cost for r in records), Decimal(0)) == sum((r.cost for r in state.cost_records), Decimal(0))
    assert {r.currency for r in records} == {"EUR"}
    assert {r.resource_id for r in records} == {ACCOUNT.lower()}
    assert state.calls["cost"] == 4 + 9 + 6  # Sep 22 rows, Oct 62, Nov 36, 7 rows a page


def test_window_end_is_exclusive(http: httpx.Client, state: EmulatorState) -> None:
    state.cost_records = [_record(dt.date(2026, 11, d), "1") for d in (1, 2, 3)]
    records = list(
        _client(http, state).query(
            f"subscriptions/{SUB}", basis=Basis.ACTUAL, start=dt.date(2026, 11, 1), end=dt.date(2026, 11, 3)
        )
    )
    assert sorted(r.billing_day.day for r in records) == [1, 2]


def test_amortized_basis_asks_for_amortized_cost_only(http: httpx.Client, state: EmulatorState) -> None:
    day = dt.date(2026, 11, 2)
    state.cost_records = [_record(day, "3"), _record(day, "2.5", basis=Basis.AMORTIZED)]
    [record] = _client(http, state).query(
        f"subscriptions/{SUB}", basis=Basis.AMORTIZED, start=day, end=day + dt.timedelta(days=1)
    )
    assert (record.basis, record.cost, record.quantity) == (Basis.AMORTIZED, Decimal("2.5"), Decimal(1000))


def test_tag_key_grouping_fills_tags(http: httpx.Client, state: EmulatorState) -> None:
    day = dt.date(2026, 11, 2)
    state.cost_records = [_record(day, "3")]
    [record] = _client(http, state).query(
        f"subscriptions/{SUB}",
        basis=Basis.ACTUAL,
        start=day,
        end=day + dt.timedelta(days=1),
        group_by=["ResourceId"],
        tag_keys=["team"],
    )
    assert dict(record.tags) == {"team": "search"} and record.meter_name is None


def test_throttling_waits_as_the_cost_headers_ask_then_succeeds(
    http: httpx.Client, state: EmulatorState
) -> None:
    day = dt.date(2026, 11, 2)
    state.cost_records = [_record(day, "4")]
    state.inject("cost", Fault(429, retry_after=7), Fault(503, retry_after=2))
    waits: list[float] = []
    records = list(
        _client(http, state, waits).query(
            f"subscriptions/{SUB}", basis=Basis.ACTUAL, start=day, end=day + dt.timedelta(days=1)
        )
    )
    assert [r.cost for r in records] == [Decimal(4)]
    assert waits == [7.0, 2.0]


def test_persistent_throttling_is_a_source_error(http: httpx.Client, state: EmulatorState) -> None:
    state.inject("cost", *[Fault(429)] * 3)
    with pytest.raises(SourceError, match="429"):
        list(
            _client(http, state).query(
                f"subscriptions/{SUB}",
                basis=Basis.ACTUAL,
                start=dt.date(2026, 11, 1),
                end=dt.date(2026, 11, 2),
            )
        )


def test_forbidden_scope_names_the_scope_and_the_missing_role(
    http: httpx.Client, state: EmulatorState
) -> None:
    state.forbidden_scopes.add(f"subscriptions/{SUB}")
    with pytest.raises(SourceAuthError, match=rf"subscriptions/{SUB}.*'Cost Management Reader'"):
        list(
            _client(http, state).query(
                f"/subscriptions/{SUB}/",
                basis=Basis.ACTUAL,
                start=dt.date(2026, 11, 1),
                end=dt.date(2026, 11, 2),
            )
        )


def test_an_unknown_token_is_an_auth_error(http: httpx.Client, state: EmulatorState) -> None:
    client = CostManagementClient(http, EmulatorToken(EmulatorState()))
    with pytest.raises(SourceAuthError, match="401"):
        list(
            client.query(
                f"subscriptions/{SUB}",
                basis=Basis.ACTUAL,
                start=dt.date(2026, 11, 1),
                end=dt.date(2026, 11, 2),
            )
        )


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        (f"subscriptions/{SUB}/resourceGroups/RG-AI", ["1", "2"]),
        (f"subscriptions/{SUB}", ["1", "2", "4"]),
        ("providers/Microsoft.Billing/billingAccounts/1:2/billingProfiles/BP1", ["1", "2", "4", "8"]),
    ],
)
def test_each_scope_form_reads_its_own_costs(
    http: httpx.Client, state: EmulatorState, scope: str, expected: list[str]
) -> None:
    day = dt.date(2026, 11, 2)
    other_rg = ACCOUNT.replace("rg-AI", "rg-web")
    state.cost_records = [
        _record(day, "1"),
        _record(day, "2", meter="gpt 4.1 Outp glbl Tokens"),
        _record(day, "4", resource=other_rg),
        dataclasses.replace(_record(day, "8", resource=other_rg.replace(SUB, "x")), subscription_id="x"),
    ]
    group_by = ["ServiceName"] if scope.startswith("providers/") else ["ResourceId", "Meter"]
    records = _client(http, state).query(
        scope, basis=Basis.ACTUAL, start=day, end=day + dt.timedelta(days=1), group_by=group_by
    )
    wanted = ["15"] if scope.startswith("providers/") else expected
    assert sorted(r.cost for r in records) == [Decimal(v) for v in wanted]


def test_billing_account_scope_groups_by_service(http: httpx.Client, state: EmulatorState) -> None:
    day = dt.date(2026, 11, 2)
    state.cost_records = [
        CostRecord(billing_day=day, basis=Basis.ACTUAL, cost=Decimal(c), currency="USD", service_name=s)
        for c, s in (("1.5", "Azure OpenAI"), ("2", "Azure OpenAI"), ("4", "Azure AI Search"))
    ]
    records = _client(http, state).query(
        "providers/Microsoft.Billing/billingAccounts/123:456",
        basis=Basis.ACTUAL,
        start=day,
        end=day + dt.timedelta(days=1),
        group_by=["ServiceName"],
    )
    totals: dict[str | None, Decimal] = defaultdict(Decimal)
    for record in records:
        totals[record.service_name] += record.cost
    assert totals == {"Azure AI Search": Decimal(4), "Azure OpenAI": Decimal("3.5")}


@pytest.mark.parametrize(
    ("scope", "group_by", "tags", "field"),
    [
        ("providers/Microsoft.Billing/billingAccounts/1", ["ResourceId"], [], "group_by"),
        (f"subscriptions/{SUB}", ["ResourceId", "Meter"], ["team"], "group_by"),
        ("tenants/abc", ["ServiceName"], [], "scope"),
    ],
)
def test_requests_the_service_would_reject_fail_before_sending(
    http: httpx.Client, state: EmulatorState, scope: str, group_by: list[str], tags: list[str], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        list(
            _client(http, state).query(
                scope,
                basis=Basis.ACTUAL,
                start=dt.date(2026, 11, 1),
                end=dt.date(2026, 11, 2),
                group_by=group_by,
                tag_keys=tags,
            )
        )
    assert info.value.field == field and state.calls["cost"] == 0


@settings(max_examples=15, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 45), st.decimals("0", "1000", places=9), st.sampled_from("ABC")), max_size=40
    ),
    st.integers(1, 9),
)
def test_money_is_conserved_whatever_the_paging(rows: list[tuple[int, Decimal, str]], page_size: int) -> None:
    state = EmulatorState(today=dt.date(2026, 12, 31), cost_page_size=page_size)
    start = dt.date(2026, 10, 20)
    state.cost_records = [_record(start + dt.timedelta(days=d), str(c), meter=m) for d, c, m in rows]
    with httpx.Client(transport=SyncASGITransport(create_emulator(state))) as http:
        records = list(
            _client(http, state).query(
                f"subscriptions/{SUB}", basis=Basis.ACTUAL, start=start, end=start + dt.timedelta(days=46)
            )
        )
    expected: dict[tuple[dt.date, str | None], Decimal] = defaultdict(Decimal)
    for record in state.cost_records:
        expected[(record.billing_day, record.meter_name)] += record.cost
    assert {(r.billing_day, r.meter_name): r.cost for r in records} == expected
