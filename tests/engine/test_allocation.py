"""Allocation conserves every nano of every cost record, deterministically, by the rules in order."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aifinops.domain import Basis, CostRecord, to_nanos
from aifinops.engine.allocation import (
    AllocationResult,
    AllocationRule,
    Bucket,
    Driver,
    FilterKey,
    IdlePolicy,
    Method,
    RecordMatch,
    Scope,
    UsageFilter,
    allocate,
    filter_key,
    split_largest_remainder,
)
from aifinops.engine.drivers.estimated_cost import ESTIMATED_COST
from aifinops.engine.drivers.even import EVEN
from aifinops.engine.drivers.fixed import FIXED
from aifinops.engine.drivers.requests import REQUESTS
from aifinops.engine.drivers.tokens import TOKENS
from aifinops.engine.drivers.usage_index import usage_sums

DAY = dt.date(2026, 10, 1)
DIMS = ("app", "tenant")
AOAI = "/subscriptions/s1/resourcegroups/rg-ai/providers/microsoft.cognitiveservices/accounts/aoai-1"
SEARCH = "/subscriptions/s1/resourcegroups/rg-ai/providers/microsoft.search/searchservices/srch"
PTU_METER = "Provisioned Managed Global Unit"


def record(cost: str, *, resource_id: str = AOAI, currency: str = "USD", **kw: object) -> CostRecord:
    return CostRecord(
        billing_day=kw.pop("day", DAY),  # type: ignore[arg-type]
        basis=Basis.ACTUAL,
        cost=Decimal(cost),
        currency=currency,
        resource_id=resource_id,
        **kw,  # type: ignore[arg-type]
    )


def driver(app: str, tenant: str, **kw: object) -> Driver:
    kw.setdefault("resource_id", AOAI)
    kw.setdefault("day", DAY)
    sums = {name: kw.pop(name) for name in ("tokens", "requests", "estimated_cost_nanos") if name in kw}
    return Driver(dims=(app, tenant), usage=usage_sums(**sums), **kw)  # type: ignore[arg-type]


def per_record(result: AllocationResult) -> dict[int, int]:
    sums: dict[int, int] = defaultdict(int)
    for line in result.lines:
        sums[line.record] += line.amount_nanos
    return sums


# --- strategies --------------------------------------------------------------------------------------

_names = st.sampled_from(["a", "b", "c", ""])
_currencies = st.sampled_from(["USD", "EUR", "JPY"])
_resources = st.sampled_from([AOAI, SEARCH, "/subscriptions/s1/resourcegroups/rg/providers/x/y/z"])
_days = st.sampled_from([DAY, DAY + dt.timedelta(days=1)])
_amounts = st.decimals(min_value=Decimal("-1000"), max_value=Decimal("1000"), places=9, allow_nan=False)

drivers_st = st.lists(
    st.builds(
        Driver,
        day=_days,
        dims=st.tuples(_names, _names),
        usage=st.builds(
            usage_sums,
            tokens=st.integers(0, 10**9),
            requests=st.integers(0, 1000),
            estimated_cost_nanos=st.integers(0, 10**12),
        ),
        currency=_currencies,
        kind=st.sampled_from(["chat", "retrieval"]),
        deployment=st.sampled_from(["gpt-4o", "gpt-4o-mini", "ptu"]),
        resource_id=_resources,
    ),
    max_size=25,
)
records_st = st.lists(
    st.builds(
        CostRecord,
        billing_day=_days,
        basis=st.just(Basis.ACTUAL),
        cost=_amounts,
        currency=_currencies,
        resource_id=st.one_of(_resources, st.none()),
        quantity=st.one_of(st.none(), st.decimals(min_value=0, max_value=100, places=3)),
        tags=st.dictionaries(st.sampled_from(["app", "App", "tenant"]), _names, max_size=2),
        meter_category=st.sampled_from([None, "Azure OpenAI", "Storage"]),
        meter_name=st.sampled_from([None, "gpt-4o-0806 Inp glbl Tokens", PTU_METER]),
        charge_type=st.sampled_from([None, "Usage", "Purchase", "Refund"]),
        pricing_model=st.sampled_from([None, "OnDemand", "Reservation"]),
    ),
    max_size=20,
)
_owner = st.fixed_dictionaries({}, optional={"app": _names, "tenant": _names})
_weights = st.lists(
    st.tuples(_owner, st.decimals(min_value=Decimal("0.01"), max_value=100, places=2)), min_size=1, max_size=4
)
_filter = st.builds(
    UsageFilter,
    where=st.fixed_dictionaries(
        {}, optional={"kind": st.just(("retrieval",)), "deployment": st.just(("ptu",))}
    ),
    scope=st.sampled_from(list(Scope)),
)
_usage_metric = st.sampled_from([ESTIMATED_COST, TOKENS, REQUESTS])
_match = st.builds(
    RecordMatch,
    resource_ids=st.sampled_from([(), ("*/microsoft.cognitiveservices/*",), (SEARCH,)]),
    meter_categories=st.sampled_from([(), ("azure openai",)]),
    tags=st.sampled_from([{}, {"app": "*"}]),
)
rules_st = st.lists(
    st.one_of(
        st.builds(
            AllocationRule,
            name=st.just("direct"),
            method=st.just(Method.DIRECT),
            match=_match,
            owner_tags=st.just({"app": "app", "tenant": "tenant"}),
        ),
        st.builds(
            AllocationRule,
            name=st.just("shared"),
            method=st.just(Method.SHARED),
            match=_match,
            driver=st.one_of(_usage_metric, st.just(EVEN)),
            usage=_filter,
        ),
        st.builds(
            AllocationRule,
            name=st.just("fixed"),
            method=st.just(Method.SHARED),
            match=_match,
            driver=st.sampled_from([FIXED, EVEN]),
            weights=_weights,
        ),
        st.builds(
            AllocationRule,
            name=st.just("ptu"),
            method=st.just(Method.PROVISIONED),
            match=_match,
            driver=_usage_metric,
            usage=_filter,
            capacity_per_day=st.integers(1, 10**10),
            idle=st.sampled_from([IdlePolicy.VISIBLE, IdlePolicy.SPREAD]),
        ),
        st.builds(
            AllocationRule,
            name=st.just("purchases-to-platform"),
            method=st.just(Method.DIRECT),
            match=st.just(RecordMatch(charge_types=("purchase",))),
            owner=st.just({"app": "platform"}),
        ),
        st.builds(
            AllocationRule,
            name=st.just("ptu-q"),
            method=st.just(Method.PROVISIONED),
            match=_match,
            driver=_usage_metric,
            usage=_filter,
            capacity_per_quantity=st.just(Decimal(10**6)),
            idle=st.just(IdlePolicy.OWNER),
            idle_owner=st.just({"app": "platform"}),
        ),
    ),
    max_size=4,
)


# --- properties ---------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(records=records_st, rules=rules_st, drivers=drivers_st)
def test_conservation_is_exact_for_every_record(records, rules, drivers) -> None:  # type: ignore[no-untyped-def]
    result = allocate(records, rules, drivers, dimensions=DIMS)
    sums = per_record(result)
    for index, rec in enumerate(records):
        assert sums.get(index, 0) == to_nanos(rec.cost), f"record {index} not conserved"
    per_bucket: dict[Bucket, int] = defaultdict(int)
    for line in result.lines:
        assert line.currency == records[line.record].currency, "a line changed currency"
        assert line.amount_nanos != 0
        assert (line.amount_nanos > 0) == (records[line.record].cost > 0), "a share changed sign"
        if line.bucket is Bucket.UNALLOCATED:
            assert line.reason, "unallocated without a reason"
        purchase = _is_commitment_purchase(records[line.record])
        assert (line.bucket is Bucket.PURCHASES) <= purchase, "usage taken for a purchase"
        if purchase:  # its own bucket, unless a rule that matches its charge type takes it
            assert line.bucket in (Bucket.PURCHASES, Bucket.ALLOCATED), "a purchase left unallocated"
        per_bucket[line.bucket] += line.amount_nanos
    # allocated + idle + purchases + unallocated == the records' cost, exactly
    assert sum(per_bucket.values()) == sum(to_nanos(r.cost) for r in records)
    assert set(per_bucket) <= set(Bucket)


def _is_commitment_purchase(rec: CostRecord) -> bool:
    """The test's own reading of the rule: never on-demand; a Purchase or Refund of a commitment (or of
    anything with no resource), or — without a charge type — a reservation (by pricing model or meter) with
    no resource."""
    if rec.pricing_model == "OnDemand":
        return False
    if rec.charge_type is None:
        return rec.resource_id is None and (rec.meter_name == PTU_METER or rec.pricing_model == "Reservation")
    if rec.charge_type not in ("Purchase", "Refund"):
        return False
    return rec.pricing_model == "Reservation" or rec.resource_id is None


@settings(max_examples=100, deadline=None)
@given(records=records_st, rules=rules_st, drivers=drivers_st, seed=st.integers(0, 2**32))
def test_allocation_is_deterministic_whatever_the_driver_order(records, rules, drivers, seed) -> None:  # type: ignore[no-untyped-def]
    shuffled = list(drivers)
    random.Random(seed).shuffle(shuffled)
    first = allocate(records, rules, drivers, dimensions=DIMS)
    assert allocate(records, rules, drivers, dimensions=DIMS) == first
    assert sorted(map(repr, allocate(records, rules, shuffled, dimensions=DIMS).lines)) == sorted(
        map(repr, first.lines)
    )


@settings(max_examples=100, deadline=None)
@given(records=records_st, rules=rules_st, drivers=drivers_st)
def test_a_refund_mirrors_its_charge(records, rules, drivers) -> None:  # type: ignore[no-untyped-def]
    negated = [CostRecord(**{**_fields(r), "cost": -r.cost}) for r in records]
    plus = allocate(records, rules, drivers, dimensions=DIMS)
    minus = allocate(negated, rules, drivers, dimensions=DIMS)
    assert [(ln.record, ln.dims, -ln.amount_nanos, ln.bucket) for ln in minus.lines] == [
        (ln.record, ln.dims, ln.amount_nanos, ln.bucket) for ln in plus.lines
    ]


def _fields(rec: CostRecord) -> dict[str, object]:
    return {name: getattr(rec, name) for name in CostRecord.__dataclass_fields__}


@given(
    total=st.integers(-(10**15), 10**15), weights=st.lists(st.integers(1, 10**12), min_size=1, max_size=30)
)
def test_largest_remainder_sums_and_stays_within_one_nano(total: int, weights: list[int]) -> None:
    parts = split_largest_remainder(total, weights)
    assert sum(parts) == total
    whole = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        assert abs(part * whole - total * weight) < whole  # each part is its exact share ± 1 nano


@given(drivers=drivers_st, cost=_amounts.filter(lambda d: d != 0))
def test_a_single_consumer_gets_everything(drivers: list[Driver], cost: Decimal) -> None:
    one = [driver("solo", "t1", tokens=5, requests=1, estimated_cost_nanos=7)]
    rule = AllocationRule("tok", Method.SHARED, driver=TOKENS)
    result = allocate([record(str(cost))], [rule], one, dimensions=DIMS)
    assert [(ln.dims, ln.amount_nanos, ln.bucket) for ln in result.lines] == [
        (("solo", "t1"), to_nanos(cost), Bucket.ALLOCATED)
    ]


# --- behaviour ----------------------------------------------------------------------------------------


def test_zero_usage_leaves_the_record_unallocated_with_the_reason() -> None:
    rule = AllocationRule("aoai", Method.SHARED, driver=TOKENS)
    result = allocate([record("12.5")], [rule], [driver("a", "t", tokens=0, requests=0)], dimensions=DIMS)
    (line,) = result.lines
    assert line.bucket is Bucket.UNALLOCATED and line.amount_nanos == 12_500_000_000
    assert "rule 'aoai': no tokens usage of " + AOAI + " on 2026-10-01" in line.reason


def test_no_matching_rule_says_so() -> None:
    rule = AllocationRule("search", Method.SHARED, match=RecordMatch(resource_ids=(SEARCH,)))
    (line,) = allocate([record("1")], [rule], [], dimensions=DIMS).lines
    assert line.reason == "no rule matches"


def test_a_reservation_purchase_is_its_own_bucket_naming_the_reservation() -> None:
    """The Query API drops ChargeType: the demo's PTU reservation purchase arrives with no charge type and
    no resource. It is recognised by its reservation meter, never spread as usage nor left unallocated."""
    purchase = record(
        "2600",
        resource_id=None,
        meter_name=PTU_METER,
        quantity=Decimal(10),
        unit="1/Hour",  # type: ignore[arg-type]
    )
    everything = AllocationRule("everything", Method.SHARED, driver=TOKENS)
    drivers = [driver("a", "t", tokens=5, resource_id="")]
    (line,) = allocate([purchase], [everything], drivers, dimensions=DIMS).lines
    assert (line.bucket, line.amount_nanos, line.rule) == (Bucket.PURCHASES, 2_600 * 10**9, "")
    assert line.driver == f"reservation {PTU_METER}"
    assert "charged through the amortized view" in line.reason and "10 1/Hour" in line.reason


@pytest.mark.parametrize(
    ("fields", "bucket"),
    [
        (
            {"charge_type": "Purchase", "pricing_model": "SavingsPlan", "meter_name": "Savings plan"},
            "purchases",
        ),
        ({"charge_type": "Refund", "pricing_model": "Reservation", "meter_name": PTU_METER}, "purchases"),
        ({"charge_type": "Usage", "meter_name": PTU_METER}, "unallocated"),  # the charge type decides
        ({"charge_type": "Refund", "resource_id": AOAI}, "unallocated"),  # a refund of usage on a resource
        ({"charge_type": "Purchase", "pricing_model": "OnDemand"}, "unallocated"),  # a marketplace purchase
        ({"meter_name": "gpt-4o-0806 Inp glbl Tokens"}, "unallocated"),  # not a commitment meter
    ],
)
def test_commitment_purchases_are_recognised_by_charge_type_else_by_meter(
    fields: dict[str, str], bucket: str
) -> None:
    (line,) = allocate([record("5", **{"resource_id": None, **fields})], [], [], dimensions=DIMS).lines  # type: ignore[arg-type]
    assert line.bucket.value == bucket


def test_a_rule_that_names_the_purchase_charge_type_may_still_allocate_it() -> None:
    rule = AllocationRule(
        "to-platform", Method.DIRECT, match=RecordMatch(charge_types=("purchase",)), owner={"app": "platform"}
    )
    purchase = record("100", resource_id=None, charge_type="Purchase", pricing_model="Reservation")  # type: ignore[arg-type]
    (line,) = allocate([purchase], [rule], [], dimensions=DIMS).lines
    assert (line.bucket, line.dims) == (Bucket.ALLOCATED, ("platform", ""))


def test_estimated_cost_share_charges_the_bigger_model_more() -> None:
    drivers = [
        driver("chat", "t-4o", tokens=1_000_000, estimated_cost_nanos=5_000_000_000, currency="USD"),
        driver("chat", "t-mini", tokens=1_000_000, estimated_cost_nanos=300_000_000, currency="USD"),
    ]
    rule = AllocationRule("aoai", Method.SHARED, driver=ESTIMATED_COST)
    result = allocate([record("53")], [rule], drivers, dimensions=DIMS)
    got = {ln.dims[1]: ln.amount_nanos for ln in result.lines}
    assert got == {"t-4o": 50_000_000_000, "t-mini": 3_000_000_000}
    tokens = allocate(
        [record("53")],
        [AllocationRule("t", Method.SHARED, driver=TOKENS)],
        drivers,
        dimensions=DIMS,
    )
    assert {ln.dims[1]: ln.amount_nanos for ln in tokens.lines} == {
        "t-4o": 26_500_000_000,
        "t-mini": 26_500_000_000,
    }


def test_retrieval_events_drive_the_search_service() -> None:
    drivers = [
        driver("rag", "t1", requests=30, kind="retrieval", resource_id=""),
        driver("rag", "t2", requests=10, kind="retrieval", resource_id=""),
        driver("chat", "t3", requests=500, kind="chat", resource_id=""),
    ]
    rule = AllocationRule(
        "search",
        Method.SHARED,
        match=RecordMatch(resource_ids=("*/microsoft.search/*",)),
        driver=REQUESTS,
        usage=UsageFilter({"kind": ("retrieval",)}, scope=Scope.ALL),
    )
    result = allocate([record("4", resource_id=SEARCH)], [rule], drivers, dimensions=DIMS)
    assert {ln.dims: ln.amount_nanos for ln in result.lines} == {
        ("rag", "t1"): 3 * 10**9,
        ("rag", "t2"): 10**9,
    }
    assert {ln.driver for ln in result.lines} == {"requests[kind=retrieval]"}


def test_provisioned_capacity_shows_idle_visible_spread_or_owned() -> None:
    drivers = [driver("a", "t1", tokens=300), driver("b", "t2", tokens=100)]
    base = dict(method=Method.PROVISIONED, driver=TOKENS, capacity_per_day=1000)
    visible = allocate([record("10")], [AllocationRule("ptu", **base)], drivers, dimensions=DIMS)  # type: ignore[arg-type]
    assert [(ln.dims, ln.amount_nanos, ln.bucket) for ln in visible.lines] == [
        (("a", "t1"), 3 * 10**9, Bucket.ALLOCATED),
        (("b", "t2"), 10**9, Bucket.ALLOCATED),
        (("", ""), 6 * 10**9, Bucket.IDLE),
    ]
    assert "400 of 1000 tokens used" in visible.lines[-1].reason
    spread = allocate(
        [record("10")],
        [AllocationRule("ptu", **base, idle=IdlePolicy.SPREAD)],
        drivers,  # type: ignore[arg-type]
        dimensions=DIMS,
    )
    by_dims: dict[tuple[str, ...], int] = defaultdict(int)
    for ln in spread.lines:
        by_dims[ln.dims] += ln.amount_nanos
    assert by_dims == {("a", "t1"): 7_500_000_000, ("b", "t2"): 2_500_000_000}
    owned = allocate(
        [record("10")],
        [
            AllocationRule(
                "ptu",
                **base,
                idle=IdlePolicy.OWNER,  # type: ignore[arg-type]
                idle_owner={"app": "platform"},
            )
        ],
        drivers,
        dimensions=DIMS,
    )
    assert owned.lines[-1].dims == ("platform", "") and owned.lines[-1].bucket is Bucket.ALLOCATED


def test_provisioned_capacity_from_the_record_quantity_and_full_idle_without_usage() -> None:
    rule = AllocationRule("ptu", Method.PROVISIONED, driver=TOKENS, capacity_per_quantity=Decimal(100))
    result = allocate([record("24", quantity=Decimal(24))], [rule], [], dimensions=DIMS)
    assert [(ln.amount_nanos, ln.bucket) for ln in result.lines] == [(24 * 10**9, Bucket.IDLE)]
    over = allocate(
        [record("24", quantity=Decimal(1))], [rule], [driver("a", "t", tokens=500)], dimensions=DIMS
    )
    assert [(ln.amount_nanos, ln.bucket) for ln in over.lines] == [(24 * 10**9, Bucket.ALLOCATED)]


def test_direct_by_tag_falls_through_to_inventory_then_reports_both_reasons() -> None:
    by_tag = AllocationRule("by-tag", Method.DIRECT, owner_tags={"app": "App"})
    by_inventory = AllocationRule("cmdb", Method.DIRECT, inventory={SEARCH: {"app": "search-team"}})
    records = [record("1", tags={"app": "billing"}), record("2", resource_id=SEARCH), record("3")]
    lines = allocate(records, [by_tag, by_inventory], [], dimensions=DIMS).lines
    assert [(ln.dims, ln.rule, ln.bucket) for ln in lines] == [
        (("billing", ""), "by-tag", Bucket.ALLOCATED),
        (("search-team", ""), "cmdb", Bucket.ALLOCATED),
        (("", ""), "", Bucket.UNALLOCATED),
    ]
    assert "rule 'by-tag': owner tag(s) ['App'] missing" in lines[2].reason
    assert "rule 'cmdb': resource " + AOAI + " is not in the inventory mapping" in lines[2].reason


def test_fixed_weights_and_even_split() -> None:
    weights = (
        ({"app": "a"}, Decimal("0.5")),
        ({"app": "b"}, Decimal("0.25")),
        ({"app": "c"}, Decimal("0.25")),
    )
    fixed = AllocationRule("fixed", Method.SHARED, driver=FIXED, weights=weights)
    lines = allocate([record("0.000000001")], [fixed], [], dimensions=DIMS).lines
    assert [(ln.dims[0], ln.amount_nanos) for ln in lines] == [("a", 1)]
    even = AllocationRule("even", Method.SHARED, driver=EVEN)
    drivers = [driver("a", "t", requests=1), driver("b", "t", tokens=99), driver("c", "t")]
    lines = allocate([record("0.000000010")], [even], drivers, dimensions=DIMS).lines
    assert [(ln.dims[0], ln.amount_nanos) for ln in lines] == [("a", 5), ("b", 5)]


def test_estimated_cost_in_foreign_currencies_is_not_mixed() -> None:
    drivers = [
        driver("a", "t", estimated_cost_nanos=1, currency="USD"),
        driver("b", "t", estimated_cost_nanos=1, currency="JPY"),
    ]
    rule = AllocationRule("aoai", Method.SHARED)
    (line,) = allocate([record("5", currency="EUR")], [rule], drivers, dimensions=DIMS).lines
    assert line.bucket is Bucket.UNALLOCATED and "several currencies and none in EUR" in line.reason
    usd_only = allocate([record("5", currency="EUR")], [rule], drivers[:1], dimensions=DIMS).lines
    assert [(ln.dims, ln.currency) for ln in usd_only] == [(("a", "t"), "EUR")]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": Method.DIRECT}, "needs owner, owner_tags or inventory"),
        ({"method": Method.DIRECT, "owner": {"squad": "x"}}, "unknown dimension(s) ['squad']"),
        ({"method": Method.SHARED, "driver": FIXED}, "needs weights"),
        ({"method": Method.PROVISIONED, "driver": TOKENS}, "exactly one of capacity_per_day"),
        (
            {"method": Method.SHARED, "usage": UsageFilter({"region": ("x",)})},
            "usage filter field(s) ['region']",
        ),
    ],
)
def test_invalid_rules_are_refused_with_the_fix(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        AllocationRule("bad", **kwargs)  # type: ignore[arg-type]


def test_drivers_for_other_dimensions_are_refused() -> None:
    with pytest.raises(ValueError, match="build drivers for the same dimensions"):
        allocate([], [], [Driver(DAY, ("a",))], dimensions=DIMS)
    with pytest.raises(ValueError, match="must be distinct names"):
        allocate([], [], [], dimensions=("app", "app"))


def test_rules_round_trip_through_their_configuration_form() -> None:
    from aifinops.engine.allocation_rules import rule_from_mapping, rule_to_mapping

    spec = {
        "name": "ptu",
        "method": "provisioned",
        "driver": "tokens",
        "match": {"resource_ids": "*/accounts/ptu", "tags": {"env": "prod"}},
        "usage": {"where": {"deployment": ["gpt4o-ptu"]}, "scope": "all"},
        "capacity_per_quantity": "1000000",
        "idle": "owner",
        "idle_owner": {"team": "platform"},
        "weights": [],
        "inventory": {"/A": {"app": "x"}},
    }
    rule = rule_from_mapping(spec)
    assert rule.match.resource_ids == ("*/accounts/ptu",) and rule.inventory == {"/a": {"app": "x"}}
    assert rule_from_mapping(rule_to_mapping(rule)) == rule


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"name": "x", "method": "split"}, r"allocation rule #3 \('x'\): method is 'split'; choose from"),
        ({"name": "x", "method": "shared", "colour": 1}, r"unknown field\(s\) \['colour'\]"),
        (
            {"name": "x", "method": "shared", "match": {"resource": "a"}},
            r"match has unknown field\(s\) \['resource'\]",
        ),
        ({"name": "x", "method": "shared", "usage": {"scope": "planet"}}, "usage.scope is 'planet'"),
        ({"name": "x", "method": "direct", "owner": {"app": 3}}, "owner must map names to strings"),
        ("not a rule", "allocation rule #3: must be a mapping"),
    ],
)
def test_bad_rule_configuration_names_the_rule_and_field(spec: object, message: str) -> None:
    from aifinops.engine.allocation_rules import rule_from_mapping

    with pytest.raises(ValueError, match=message):
        rule_from_mapping(spec, position=2)  # type: ignore[arg-type]


def test_a_record_without_resource_never_takes_usage_of_unknown_resources() -> None:
    rule = AllocationRule("aoai", Method.SHARED, driver=TOKENS)
    unknown = [driver("a", "t", tokens=10, resource_id="")]
    (line,) = allocate([record("3", resource_id=None)], [rule], unknown, dimensions=DIMS).lines  # type: ignore[arg-type]
    assert line.bucket is Bucket.UNALLOCATED and "no resource id" in line.reason
    everywhere = AllocationRule("all", Method.SHARED, driver=TOKENS, usage=UsageFilter(scope=Scope.ALL))
    (line,) = allocate([record("3", resource_id=None)], [everywhere], unknown, dimensions=DIMS).lines  # type: ignore[arg-type]
    assert line.dims == ("a", "t") and line.bucket is Bucket.ALLOCATED


def test_a_filter_on_a_dimension_outside_the_run_is_a_reason_not_a_crash() -> None:
    rule = AllocationRule("team", Method.SHARED, usage=UsageFilter({"team": ("search",)}))
    (line,) = allocate([record("1")], [rule], [driver("a", "t", tokens=1)], dimensions=DIMS).lines
    assert "usage filter on 'team', which this run does not allocate over" in line.reason


def _prefiltered(drivers: list[Driver], rules: list[AllocationRule]) -> dict[FilterKey, list[Driver]]:
    """Per rule filter, the drivers it keeps merged per day, dims, resource and currency: as the store's
    conditional sums give them (the filtered fields blank, rows without any usage left out)."""
    out: dict[FilterKey, list[Driver]] = {}
    for rule in rules:
        where = rule.usage.where
        if not where:
            continue
        sums: dict[tuple[object, ...], list[int]] = {}
        for d in drivers:
            if all(getattr(d, name) in values for name, values in where.items()):
                row = sums.setdefault((d.day, d.dims, d.resource_id, d.currency), [0] * len(d.usage))
                for i, value in enumerate(d.usage):
                    row[i] += value
        out[filter_key(rule.usage)] = [
            Driver(day, dims, tuple(row), currency=currency, resource_id=resource)  # type: ignore[arg-type]
            for (day, dims, resource, currency), row in sums.items()
            if any(row)
        ]
    return out


@settings(max_examples=150, deadline=None)
@given(records=records_st, rules=rules_st, drivers=drivers_st)
def test_drivers_filtered_by_the_store_allocate_as_the_engine_filtering_itself(
    records, rules, drivers
) -> None:  # type: ignore[no-untyped-def]
    """The store may sum a rule's filtered usage in SQL: the split must not change by a nano."""
    expected = allocate(records, rules, drivers, dimensions=DIMS)
    got = allocate(records, rules, drivers, dimensions=DIMS, filtered=_prefiltered(drivers, rules))
    assert got.parts == expected.parts
