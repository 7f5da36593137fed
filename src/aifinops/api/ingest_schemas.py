"""Wire schemas of the ingest API: one usage event, one task outcome, and the per-item batch report."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from aifinops.domain import DeploymentType, EventKind, EventStatus, Outcome, TaskOutcome, UsageEvent

__all__ = ["EventIn", "OutcomeIn", "Rejection", "validate_items"]

#: A single call above this many tokens is not a real call but a bug or an attack.
MAX_TOKENS_PER_EVENT = 50_000_000
_Name = Annotated[str, StringConstraints(min_length=1, max_length=128, strip_whitespace=True)]
_Short = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]
_Tokens = Annotated[int, Field(ge=0, le=MAX_TOKENS_PER_EVENT)]
_FUTURE_SLACK = dt.timedelta(days=1)


def _aware(value: dt.datetime, field: str) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{field} needs a time zone, e.g. 2026-10-01T12:00:00Z")
    if value.year < 2000:
        raise ValueError(f"{field} {value.isoformat()} is before 2000")
    return value.astimezone(dt.UTC)


class EventIn(BaseModel):
    """One usage event as sent to ``POST /api/events`` (DESIGN.md §5)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: _Name
    ts: dt.datetime
    task_id: _Name | None = None
    step: Annotated[int, Field(ge=0, le=100_000)] | None = None
    attempt: Annotated[int, Field(ge=1, le=1_000)] = 1
    app: _Name | None = None
    use_case: _Name | None = None
    agent: _Name | None = None
    tenant: _Name | None = None
    user_group: _Name | None = None
    cost_center: _Name | None = None
    team: _Name | None = None
    environment: _Name | None = None
    deployment: _Name | None = None
    model: _Name | None = None
    attributes: Annotated[dict[_Short, Annotated[str, StringConstraints(max_length=256)]],
                          Field(max_length=32)] = Field(default_factory=dict)
    provider: _Short = "azure_openai"
    model_version: _Short | None = None
    deployment_type: DeploymentType | None = None
    region: _Short | None = None
    resource_id: Annotated[str, StringConstraints(max_length=512)] | None = None
    priority: bool = False
    input_tokens: _Tokens = 0
    cached_input_tokens: _Tokens = 0
    output_tokens: _Tokens = 0
    reasoning_tokens: _Tokens = 0
    requests: Annotated[int, Field(ge=0, le=1_000_000)] = 1
    quantity: Annotated[Decimal, Field(ge=0, le=Decimal(10) ** 12, max_digits=30, decimal_places=9)] | None = None
    unit: _Short | None = None
    kind: EventKind = EventKind.CHAT
    status: EventStatus = EventStatus.OK
    latency_ms: Annotated[int, Field(ge=0, le=86_400_000)] | None = None
    tool_name: _Name | None = None

    @field_validator("ts")
    @classmethod
    def _ts(cls, value: dt.datetime) -> dt.datetime:
        value = _aware(value, "ts")
        if value > dt.datetime.now(dt.UTC) + _FUTURE_SLACK:
            raise ValueError(f"ts {value.isoformat()} is more than a day in the future")
        return value

    @model_validator(mode="after")
    def _parts(self) -> EventIn:
        if self.cached_input_tokens > self.input_tokens:
            raise ValueError(
                f"cached_input_tokens ({self.cached_input_tokens}) are part of input_tokens "
                f"({self.input_tokens}) and cannot exceed them"
            )
        if self.reasoning_tokens > self.output_tokens:
            raise ValueError(
                f"reasoning_tokens ({self.reasoning_tokens}) are part of output_tokens "
                f"({self.output_tokens}) and cannot exceed them"
            )
        if (self.quantity is None) != (self.unit is None):
            raise ValueError("quantity and unit go together: give both or neither")
        return self

    def to_domain(self) -> UsageEvent:
        return UsageEvent(**{k: getattr(self, k) for k in self.__class__.model_fields})


class OutcomeIn(BaseModel):
    """The outcome of one business task (``POST /api/outcomes``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_id: _Name
    outcome: Outcome
    ended_at: dt.datetime
    use_case: _Name | None = None
    value_amount: Annotated[Decimal, Field(max_digits=30, decimal_places=9)] | None = None
    value_currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None
    value_quantity: Annotated[Decimal, Field(ge=0, max_digits=30, decimal_places=9)] | None = None
    value_unit: _Short | None = None

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
        out.append(Rejection(index=index, field=loc, reason=reason))
    return out


def validate_items(model: type[BaseModel], items: list[Any]) -> tuple[list[tuple[int, Any]], list[Rejection]]:
    """Validate every item on its own: (index, value) of the valid ones and one rejection per bad field.

    The whole batch is validated in one call first; only when that fails is each item checked alone.
    """
    adapter: TypeAdapter[list[Any]] = TypeAdapter(list[model])  # type: ignore[valid-type]
    try:
        return list(enumerate(adapter.validate_python(items))), []
    except PydanticValidationError:
        pass
    valid, rejected = [], []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            rejected.append(Rejection(index=index, field="(item)", reason="each item must be a JSON object"))
            continue
        try:
            valid.append((index, model.model_validate(item)))
        except PydanticValidationError as exc:
            rejected.extend(_rejections(index, exc))
    return valid, rejected
