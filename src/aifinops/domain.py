"""Domain values of aifinops: frozen dataclasses, enums and Money. No I/O, no frameworks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from enum import StrEnum
from types import MappingProxyType

__all__ = [
    "COST_DIMENSIONS",
    "COST_ROW_COLUMNS",
    "DIMENSIONS",
    "NANOS",
    "PRIORITY_KINDS",
    "Basis",
    "CostRecord",
    "DeploymentType",
    "EventKind",
    "EventStatus",
    "InventoryResource",
    "MeterKind",
    "MetricSample",
    "Money",
    "Outcome",
    "Price",
    "PricedUsage",
    "TaskOutcome",
    "UsageEvent",
    "from_nanos",
    "join_nanos",
    "plain",
    "split_nanos",
    "to_nanos",
]

#: The allocation vocabulary used by events, rules, budgets, limits, API filters and metric labels.
DIMENSIONS: tuple[str, ...] = (
    "app",
    "use_case",
    "agent",
    "tenant",
    "user_group",
    "cost_center",
    "team",
    "environment",
    "deployment",
    "model",
)

#: The fields of a CostRecord that say what was billed: group-by and filter names for billed cost.
COST_DIMENSIONS: tuple[str, ...] = (
    "subscription_id",
    "resource_group",
    "resource_id",
    "resource_type",
    "location",
    "service_name",
    "meter_category",
    "meter_subcategory",
    "meter_name",
    "meter_id",
    "charge_type",
    "pricing_model",
    "unit",
)
#: Columns of a cost relation at the CostRecord grain, as export readers produce it and the store loads it.
COST_ROW_COLUMNS: tuple[str, ...] = (
    "billing_day",
    "currency",
    *COST_DIMENSIONS,
    "tags",
    "cost_nanos",
    "cost_rem_e18",
    "quantity_nanos",
    "source_rows",
)

#: Money is stored as an integer count of 10⁻⁹ currency units (see DESIGN.md §5).
NANOS = Decimal("1e-9")
_NANOS_PER_UNIT = 10**9


def to_nanos(amount: Decimal) -> int:
    """Convert an amount to integer nano-units, rounding half to even at the 9th decimal.

    This is the one rounding rule of the store: every money value is exact to 10⁻⁹.

    >>> to_nanos(Decimal("0.0000015"))
    1500
    >>> to_nanos(Decimal("0.0000000005"))
    0
    """
    return int((amount * _NANOS_PER_UNIT).to_integral_value(rounding=ROUND_HALF_EVEN))


#: Billed cost keeps what Azure sent to 10⁻¹⁸: nanos plus the remainder below one nano (docs/billed-cost.md).
_E18_PER_NANO = 10**9


def split_nanos(amount: Decimal) -> tuple[int, int]:
    """An amount as ``(nanos, rest)``: its half-even nanos and what that rounding left, in 10⁻¹⁸ units.

    The amount is first rounded half-even at the 18th decimal (no Azure amount carries more precision
    than that matters); ``nanos * 10⁹ + rest`` is then that amount exactly, with ``|rest| ≤ 5·10⁸``.

    >>> split_nanos(Decimal("94.0732580074"))
    (94073258007, 400000000)
    >>> split_nanos(Decimal("-0.0000000015"))
    (-2, 500000000)
    """
    with localcontext() as ctx:
        ctx.prec = 60  # amount × 10¹⁸ must never be rounded by the context
        e18 = int(amount.scaleb(18).to_integral_value(rounding=ROUND_HALF_EVEN))
    nanos, rest = divmod(e18, _E18_PER_NANO)
    if rest * 2 > _E18_PER_NANO or (rest * 2 == _E18_PER_NANO and nanos % 2):
        nanos += 1
    return nanos, e18 - nanos * _E18_PER_NANO


def join_nanos(nanos: int, rest: int = 0) -> Decimal:
    """The exact amount of ``nanos`` plus ``rest`` units of 10⁻¹⁸ (the inverse of :func:`split_nanos`).

    >>> join_nanos(94073258007, 400000000)
    Decimal('94.0732580074')
    """
    if not rest:
        return from_nanos(nanos)
    with localcontext() as ctx:
        ctx.prec = 60  # a fraction is left, so the normalized exponent is negative: never an exponent form
        return Decimal(nanos * _E18_PER_NANO + rest).scaleb(-18).normalize()


def plain(amount: Decimal) -> str:
    """An amount as a plain decimal string, never in exponent form (``str(Decimal)`` writes 1E-9, 4.7E+3).

    >>> plain(Decimal("1E-9")), plain(Decimal("4.7E+3")), plain(Decimal("-0.50"))
    ('0.000000001', '4700', '-0.50')
    """
    return format(amount, "f")


def from_nanos(nanos: int) -> Decimal:
    """Convert integer nano-units back to a Decimal amount without trailing zeros or an exponent.

    >>> from_nanos(1500)
    Decimal('0.0000015')
    >>> plain(from_nanos(4_700_000_000_000))
    '4700'
    """
    if not nanos % _NANOS_PER_UNIT:
        # whole units: normalize() would write 4700 as 4.7E+3, and money goes into JSON as plain decimals
        return Decimal(nanos // _NANOS_PER_UNIT)
    # a fraction is left, so the normalized exponent is negative: never an exponent form
    return Decimal(nanos).scaleb(-9).normalize()


class Basis(StrEnum):
    """Which source of truth an amount comes from (DESIGN.md §2)."""

    LIST = "list"
    ESTIMATED = "estimated"
    USAGE = "usage"
    ACTUAL = "actual"
    AMORTIZED = "amortized"
    NOWCAST = "nowcast"


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount with its ISO currency and its basis. Different currencies never add."""

    amount: Decimal
    currency: str
    basis: Basis

    def __add__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        if other.currency != self.currency or other.basis != self.basis:
            raise ValueError(
                f"cannot add {other.currency}/{other.basis} to {self.currency}/{self.basis}: "
                "convert explicitly first"
            )
        return Money(self.amount + other.amount, self.currency, self.basis)

    @property
    def nanos(self) -> int:
        return to_nanos(self.amount)

    @classmethod
    def from_nanos(cls, nanos: int, currency: str, basis: Basis, rest: int = 0) -> Money:
        """Money from nanos (and, for billed cost, the ``rest`` below one nano in 10⁻¹⁸ units)."""
        return cls(join_nanos(nanos, rest), currency, basis)

    def quantized(self, places: int = 2) -> Decimal:
        """The amount rounded half-even to ``places`` decimals, for display only."""
        return self.amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} ({self.basis})"


class EventKind(StrEnum):
    CHAT = "chat"
    RESPONSES = "responses"
    COMPLETION = "completion"
    EMBEDDING = "embedding"
    IMAGE = "image"
    AUDIO = "audio"
    TOOL = "tool"
    RETRIEVAL = "retrieval"
    SAFETY = "safety"
    EVALUATION = "evaluation"
    AGENT = "agent"
    OTHER = "other"


class EventStatus(StrEnum):
    OK = "ok"
    ERROR = "error"
    RATE_LIMITED = "rate_limited"
    CONTENT_FILTERED = "content_filtered"
    TIMEOUT = "timeout"


class DeploymentType(StrEnum):
    """Azure OpenAI deployment SKUs, snake_cased (GlobalStandard → global_standard)."""

    GLOBAL_STANDARD = "global_standard"
    DATA_ZONE_STANDARD = "data_zone_standard"
    STANDARD = "standard"  # regional
    GLOBAL_BATCH = "global_batch"
    DATA_ZONE_BATCH = "data_zone_batch"
    GLOBAL_PROVISIONED = "global_provisioned"
    DATA_ZONE_PROVISIONED = "data_zone_provisioned"
    PROVISIONED = "provisioned"  # regional

    @property
    def is_provisioned(self) -> bool:
        return self.value.endswith("provisioned")


class ProcessingTier(StrEnum):
    """How a deployment processed a call (OpenAI's ``service_tier``); each tier has its own meters."""

    STANDARD = "standard"
    PRIORITY = "priority"
    FLEX = "flex"


class ContextTier(StrEnum):
    """Short- or long-context pricing of models whose price steps up past an input-token threshold."""

    SHORT = "short"
    LONG = "long"


class MeterKind(StrEnum):
    """What a price meters. Priority processing has meters of its own."""

    INPUT = "input"
    CACHED_INPUT = "cached_input"
    CACHE_WRITE = "cache_write"  # prompt-cache writes, where a model prices them (GPT-5.6 family)
    OUTPUT = "output"
    # Older spellings of priority processing, kept so stored prices and price files stay readable: a Price
    # made with one of them is read as the plain kind with processing_tier PRIORITY.
    PRIORITY_INPUT = "priority_input"
    PRIORITY_CACHED_INPUT = "priority_cached_input"
    PRIORITY_OUTPUT = "priority_output"
    UNIT = "unit"  # non-token work: quantity × price per unit (search queries, images, seconds, PTU hours)


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABANDONED = "abandoned"
    ESCALATED = "escalated"


def _frozen_map(value: Mapping[str, str] | None) -> Mapping[str, str]:
    return MappingProxyType(dict(value or {}))


@dataclass(frozen=True, slots=True)
class UsageEvent:
    """One billable step (DESIGN.md §5). Cached tokens are part of input; reasoning part of output."""

    event_id: str
    ts: dt.datetime
    task_id: str | None = None
    step: int | None = None
    attempt: int = 1
    # allocation
    app: str | None = None
    use_case: str | None = None
    agent: str | None = None
    tenant: str | None = None
    user_group: str | None = None
    cost_center: str | None = None
    team: str | None = None
    environment: str | None = None
    deployment: str | None = None
    model: str | None = None
    attributes: Mapping[str, str] = field(default_factory=lambda: _frozen_map(None))
    # model
    provider: str = "azure_openai"
    model_version: str | None = None
    deployment_type: DeploymentType | None = None
    region: str | None = None
    resource_id: str | None = None
    priority: bool = False
    # usage
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_tokens: int = 0  # prompt-cache writes, part of input where the wire reports them
    service_tier: ProcessingTier | None = None  # None = not reported
    requests: int = 1
    quantity: Decimal | None = None
    unit: str | None = None
    # execution
    kind: EventKind = EventKind.CHAT
    status: EventStatus = EventStatus.OK
    latency_ms: int | None = None
    tool_name: str | None = None
    finish_reason: str | None = None  # why generation stopped: stop, length, content_filter, tool_calls
    request_hash: str | None = None  # hash of the normalized request: identical requests share it
    retrieved_tokens: int = 0  # what a retrieval put into the prompt: part of the reading call's input

    def dimension(self, name: str) -> str | None:
        value: str | None = getattr(self, name)
        return value


#: The pre-tier spellings of priority meters and the plain kind each one is (see :class:`Price`).
PRIORITY_KINDS: Mapping[MeterKind, MeterKind] = MappingProxyType(
    {
        MeterKind.PRIORITY_INPUT: MeterKind.INPUT,
        MeterKind.PRIORITY_CACHED_INPUT: MeterKind.CACHED_INPUT,
        MeterKind.PRIORITY_OUTPUT: MeterKind.OUTPUT,
    }
)


@dataclass(frozen=True, slots=True)
class Price:
    """One effective-dated price of one meter: ``price`` per ``unit_size`` units.

    ``processing_tier`` says which processing (standard, priority, flex) the meter prices and
    ``context_tier`` whether it prices short or long prompts (None: the meter has no context tiers).
    ``product_name`` is the Retail Prices productName (publisher) the meter is sold under. A price made with
    an older ``priority_*`` meter kind is read as the plain kind with processing tier PRIORITY.
    """

    model: str
    meter_kind: MeterKind
    price: Decimal
    currency: str
    effective_start: dt.datetime
    unit_size: int = 1_000_000
    deployment_type: DeploymentType | None = None
    region: str | None = None  # None = any region
    model_version: str | None = None  # None = any version
    effective_end: dt.datetime | None = None
    unit: str = "tokens"
    meter_id: str | None = None
    meter_name: str | None = None
    source: str = "file"
    price_id: int | None = None
    product_name: str | None = None
    context_tier: ContextTier | None = None
    processing_tier: ProcessingTier = ProcessingTier.STANDARD

    def __post_init__(self) -> None:
        plain = PRIORITY_KINDS.get(self.meter_kind)
        if plain is not None:
            object.__setattr__(self, "meter_kind", plain)
            object.__setattr__(self, "processing_tier", ProcessingTier.PRIORITY)

    @property
    def meter_key(self) -> tuple[object, ...]:
        """The meter this price belongs to in its price list: source, product, model, version, deployment
        type, region, meter kind, tiers, unit and currency. Prices of one meter differ only by their dates."""
        return (
            self.source,
            self.product_name,
            self.model,
            self.model_version,
            self.deployment_type,
            self.region,
            self.meter_kind,
            self.processing_tier,
            self.context_tier,
            self.unit,
            self.currency,
        )

    def covers(self, ts: dt.datetime) -> bool:
        return self.effective_start <= ts and (self.effective_end is None or ts < self.effective_end)

    def cost_of(self, units: int | Decimal) -> Decimal:
        """Cost of ``units`` at this price. ``>>> Price(...).cost_of(1500)`` → units / unit_size × price."""
        return Decimal(units) * self.price / self.unit_size


@dataclass(frozen=True, slots=True)
class PricedUsage:
    """The estimate for one event: its cost (None when unpriced) and the prices used, by meter."""

    cost: Decimal | None
    currency: str | None
    price_ids: Mapping[MeterKind, int | None]
    unpriced_reason: str | None = None
    inferred_version: str | None = (
        None  # the model version the prices were chosen for, when the event had none
    )

    @property
    def priced(self) -> bool:
        return self.cost is not None


@dataclass(frozen=True, slots=True)
class TaskOutcome:
    """How one business task ended. A task is its ``task_id`` within its ``tenant`` (None: the task's events
    carry no tenant): two tenants that reuse an id have two tasks, each with its own outcome."""

    task_id: str
    outcome: Outcome
    ended_at: dt.datetime
    use_case: str | None = None
    value_amount: Decimal | None = None
    value_currency: str | None = None
    value_quantity: Decimal | None = None
    value_unit: str | None = None
    tenant: str | None = None


@dataclass(frozen=True, slots=True)
class CostRecord:
    """One row of financial truth (DESIGN.md §5). ``resource_id`` is lower-cased."""

    billing_day: dt.date
    basis: Basis  # ACTUAL or AMORTIZED
    cost: Decimal
    currency: str
    scope: str = ""
    source: str = ""
    subscription_id: str | None = None
    resource_group: str | None = None
    resource_id: str | None = None
    location: str | None = None
    service_name: str | None = None
    meter_category: str | None = None
    meter_subcategory: str | None = None
    meter_name: str | None = None
    meter_id: str | None = None
    charge_type: str | None = None
    pricing_model: str | None = None
    quantity: Decimal | None = None
    unit: str | None = None
    tags: Mapping[str, str] = field(default_factory=lambda: _frozen_map(None))
    resource_type: str | None = None


@dataclass(frozen=True, slots=True)
class MetricSample:
    """One Azure Monitor metric value for one resource, time grain and dimension split (basis usage)."""

    resource_id: str  # lower-cased
    metric: str
    ts: dt.datetime
    value: Decimal
    aggregation: str  # total, average, maximum, minimum, count
    unit: str
    interval: str = "PT1H"
    deployment: str | None = None  # ModelDeploymentName
    model: str | None = None  # ModelName
    dimensions: Mapping[str, str] = field(default_factory=lambda: _frozen_map(None))


@dataclass(frozen=True, slots=True)
class InventoryResource:
    """One Azure resource from Resource Graph with its tags and the owner fields read from them."""

    resource_id: str  # lower-cased
    name: str
    type: str  # lower-cased, e.g. microsoft.cognitiveservices/accounts
    subscription_id: str
    resource_group: str
    location: str | None = None
    kind: str | None = None
    sku: str | None = None
    tags: Mapping[str, str] = field(default_factory=lambda: _frozen_map(None))
    sku_capacity: int | None = None  # the SKU's capacity: a deployment's units (PTU) or rate in thousands
