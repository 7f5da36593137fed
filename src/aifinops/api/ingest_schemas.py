"""Wire schemas of the ingest API: one usage event, one task outcome, and the per-item batch report."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, Required

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    TypeAdapter,
    field_validator,
    model_validator,
    with_config,
)
from pydantic import ValidationError as PydanticValidationError
from typing_extensions import TypedDict

from aifinops.domain import (
    DeploymentType,
    EventKind,
    EventStatus,
    Outcome,
    ProcessingTier,
    TaskOutcome,
    UsageEvent,
)

__all__ = ["EventIn", "OutcomeIn", "Rejection", "check_event", "to_event", "to_values", "validate_items"]

#: A single call above this many tokens is not a real call but a bug or an attack.
MAX_TOKENS_PER_EVENT = 50_000_000
#: The largest quantity or business value one item may carry: stored as a 64-bit count of 10⁻⁹ units, whose
#: ceiling is about 9.2e9; a round 1e9 leaves room for the sums of the rollups.
MAX_AMOUNT = Decimal(10) ** 9
#: How far ahead of the server's clock an event or an outcome may be dated (clock skew), never more.
FUTURE_SLACK = dt.timedelta(days=1)
#: PostgreSQL text cannot hold the NUL character; every string of the ingest schema refuses it.
NO_NUL = r"^[^\x00]*$"
_NUL_REASON = "contains a NUL character (\\u0000), which text columns cannot store"


_Name = Annotated[str, StringConstraints(min_length=1, max_length=128, strip_whitespace=True, pattern=NO_NUL)]
_Short = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True, pattern=NO_NUL)]
_Unit = Annotated[  # the unit columns are VARCHAR(32)
    str, StringConstraints(min_length=1, max_length=32, strip_whitespace=True, pattern=NO_NUL)
]
_AttributeValue = Annotated[str, StringConstraints(max_length=256, pattern=NO_NUL)]
_ResourceId = Annotated[str, StringConstraints(max_length=512, pattern=NO_NUL)]
# Strict: JSON true is not the number 1, nor "12" the number 12.
_Int = Annotated[int, Strict()]
_Tokens = Annotated[_Int, Field(ge=0, le=MAX_TOKENS_PER_EVENT)]
_Amount = Annotated[Decimal, Field(max_digits=30, decimal_places=9, ge=-MAX_AMOUNT, le=MAX_AMOUNT)]
_Quantity = Annotated[Decimal, Field(max_digits=30, decimal_places=9, ge=0, le=MAX_AMOUNT)]


def _aware(value: dt.datetime, field: str, now: dt.datetime | None = None) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{field} needs a time zone, e.g. 2026-10-01T12:00:00Z")
    if value.year < 2000:
        raise ValueError(f"{field} {value.isoformat()} is before 2000")
    if value > (now or dt.datetime.now(dt.UTC)) + FUTURE_SLACK:
        raise ValueError(f"{field} {value.isoformat()} is more than a day in the future")
    return value.astimezone(dt.UTC)


@with_config(ConfigDict(extra="forbid"))
class EventIn(TypedDict, total=False):
    """One usage event as sent to ``POST /api/events`` (DESIGN.md §5).

    A TypedDict rather than a model: validating a batch of them runs entirely in pydantic-core, an order of
    magnitude faster than building model instances, which matters on the ingest path.
    """

    event_id: Required[_Name]
    ts: Required[dt.datetime]
    task_id: _Name | None
    step: Annotated[_Int, Field(ge=0, le=100_000)] | None
    attempt: Annotated[_Int, Field(ge=1, le=1_000)]
    app: _Name | None
    use_case: _Name | None
    agent: _Name | None
    tenant: _Name | None
    user_group: _Name | None
    cost_center: _Name | None
    team: _Name | None
    environment: _Name | None
    deployment: _Name | None
    model: _Name | None
    attributes: Annotated[dict[_Short, _AttributeValue], Field(max_length=32)]
    provider: _Short
    model_version: _Short | None
    deployment_type: DeploymentType | None
    region: _Short | None
    resource_id: _ResourceId | None
    priority: Annotated[bool, Strict()]
    input_tokens: _Tokens
    cached_input_tokens: _Tokens
    output_tokens: _Tokens
    reasoning_tokens: _Tokens
    cache_write_tokens: _Tokens
    service_tier: ProcessingTier | None
    requests: Annotated[_Int, Field(ge=0, le=1_000_000)]
    quantity: _Quantity | None
    unit: _Unit | None
    kind: EventKind
    status: EventStatus
    latency_ms: Annotated[_Int, Field(ge=0, le=86_400_000)] | None
    tool_name: _Name | None
    finish_reason: _Unit | None  # stop, length, content_filter, tool_calls
    request_hash: _Short | None  # hash of the normalized request (aifinops.sources.openai_wire.request_hash)
    retrieved_tokens: _Tokens  # what a retrieval (or tool) put into the prompt; part of the reader's input


#: Kinds of events that may report ``retrieved_tokens``.
RETRIEVING_KINDS = frozenset({EventKind.RETRIEVAL, EventKind.TOOL})


def check_event(e: dict[str, Any], now: dt.datetime) -> tuple[str, str] | None:
    """Rules across fields that the schema cannot say: (field, reason) of the first broken one, or None."""
    ts: dt.datetime = e["ts"]
    if ts.tzinfo is None or ts.utcoffset() is None:
        return "ts", "ts needs a time zone, e.g. 2026-10-01T12:00:00Z"
    if ts.year < 2000:
        return "ts", f"ts {ts.isoformat()} is before 2000"
    if ts > now + FUTURE_SLACK:
        return "ts", f"ts {ts.isoformat()} is more than a day in the future"
    inp, cached = e.get("input_tokens", 0), e.get("cached_input_tokens", 0)
    if cached > inp:
        return "cached_input_tokens", (
            f"cached_input_tokens ({cached}) are part of input_tokens ({inp}) and cannot exceed them"
        )
    writes = e.get("cache_write_tokens", 0)
    if writes > inp:
        return "cache_write_tokens", (
            f"cache_write_tokens ({writes}) are part of input_tokens ({inp}) and cannot exceed them"
        )
    tier, priority = e.get("service_tier"), e.get("priority")
    if tier is not None and priority is not None and priority != (tier is ProcessingTier.PRIORITY):
        return "service_tier", (
            f"service_tier {tier.value!r} contradicts priority {str(priority).lower()}: priority is true "
            "exactly when service_tier is 'priority' (send one of them, or both in agreement)"
        )
    out, reasoning = e.get("output_tokens", 0), e.get("reasoning_tokens", 0)
    if reasoning > out:
        return "reasoning_tokens", (
            f"reasoning_tokens ({reasoning}) are part of output_tokens ({out}) and cannot exceed them"
        )
    if (e.get("quantity") is None) != (e.get("unit") is None):
        return "quantity", "quantity and unit go together: give both or neither"
    kind = e.get("kind", EventKind.CHAT)
    if e.get("retrieved_tokens") and kind not in RETRIEVING_KINDS:
        return "retrieved_tokens", (
            f"retrieved_tokens are what a retrieval or tool event put into the prompt, not a {kind.value} "
            "event's: send them on the retrieval event (the model call that read the passages already counts "
            "them in its input_tokens)"
        )
    return None


def to_event(e: dict[str, Any]) -> UsageEvent:
    """The domain event of a validated, checked wire event (timestamps normalized to UTC)."""
    return UsageEvent(**to_values(e))


def to_values(e: dict[str, Any]) -> dict[str, Any]:
    """The fields of :func:`to_event`'s event, without building it (what ``Ingestor.ingest_values`` takes)."""
    values = dict(e)
    values["ts"] = e["ts"].astimezone(dt.UTC)
    if (tier := e.get("service_tier")) is not None:
        values["priority"] = tier is ProcessingTier.PRIORITY  # the reported tier decides the meters
    return values


class OutcomeIn(BaseModel):
    """The outcome of one business task (``POST /api/outcomes``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_id: _Name
    outcome: Outcome
    ended_at: dt.datetime
    use_case: _Name | None = None
    value_amount: _Amount | None = None
    value_currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None
    value_quantity: _Quantity | None = None
    value_unit: _Unit | None = None
    tenant: _Name | None = Field(
        default=None,
        description="the tenant of the task (a task is its id within its tenant); a tenant-limited key's own "
        "tenant when absent",
    )

    @field_validator("ended_at")
    @classmethod
    def _ended(cls, value: dt.datetime) -> dt.datetime:
        return _aware(value, "ended_at")

    @model_validator(mode="after")
    def _value(self) -> OutcomeIn:
        if (self.value_amount is None) != (self.value_currency is None):
            raise ValueError("value_amount needs value_currency (and the reverse)")
        if (self.value_quantity is None) != (self.value_unit is None):
            raise ValueError("value_quantity needs value_unit (and the reverse)")
        return self

    def to_domain(self) -> TaskOutcome:
        return TaskOutcome(**{k: getattr(self, k) for k in self.__class__.model_fields})


class Rejection(BaseModel):
    index: int
    field: str
    reason: str


def _rejections(index: int, exc: PydanticValidationError) -> list[Rejection]:
    out = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "(item)"
        reason = err["msg"].removeprefix("Value error, ")
        if err["type"] == "string_pattern_mismatch" and (err.get("ctx") or {}).get("pattern") == NO_NUL:
            reason = _NUL_REASON
        out.append(Rejection(index=index, field=loc, reason=reason))
    return out


@functools.cache
def _adapters(schema: Any) -> tuple[TypeAdapter[list[Any]], TypeAdapter[Any]]:
    return TypeAdapter(list[schema]), TypeAdapter(schema)


def validate_items(
    schema: Any, items: list[Any], check: Callable[[Any], tuple[str, str] | None] | None = None
) -> tuple[list[tuple[int, Any]], list[Rejection]]:
    """Validate every item on its own: (index, value) of the valid ones and one rejection per bad field.

    The whole batch is validated in one call first; only when that fails is each item checked alone.
    ``check`` adds rules across fields and returns (field, reason) for a broken item.
    """
    many, one = _adapters(schema)
    try:
        values = list(enumerate(many.validate_python(items)))
    except PydanticValidationError:
        values, rejected = [], []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                rejected.append(
                    Rejection(index=index, field="(item)", reason="each item must be a JSON object")
                )
                continue
            try:
                values.append((index, one.validate_python(item)))
            except PydanticValidationError as exc:
                rejected.extend(_rejections(index, exc))
    else:
        rejected = []
    if check is None:
        return values, rejected
    valid = []
    for index, value in values:
        broken = check(value)
        if broken is None:
            valid.append((index, value))
        else:
            rejected.append(Rejection(index=index, field=broken[0], reason=broken[1]))
    rejected.sort(key=lambda r: r.index)
    return valid, rejected
