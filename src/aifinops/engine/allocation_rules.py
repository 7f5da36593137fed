"""Allocation rules (pure): which cost records a rule takes and how it splits them; validated on creation."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from aifinops.domain import DIMENSIONS, CostRecord
from aifinops.engine.drivers.estimated_cost import ESTIMATED_COST
from aifinops.engine.drivers.kind import DriverKind, UsageSum
from aifinops.engine.drivers.registry import capacity_kinds, driver_kind
from aifinops.engine.drivers.usage_filter import DRIVER_FIELDS, Scope, UsageFilter
from aifinops.errors import ValidationError

__all__ = [
    "AllocationRule",
    "IdlePolicy",
    "Method",
    "RecordMatch",
    "parse_rules",
    "rule_from_mapping",
    "rule_to_mapping",
]


class Method(StrEnum):
    DIRECT = "direct"  # to one owner named by tags, an inventory mapping or the rule
    SHARED = "shared"  # over consumers by a driver metric
    PROVISIONED = "provisioned"  # reserved capacity: used share by driver, the rest idle


class IdlePolicy(StrEnum):
    VISIBLE = "visible"  # idle stays its own bucket
    SPREAD = "spread"  # idle is spread over the consumers by the same driver
    OWNER = "owner"  # idle is charged to ``idle_owner``


def _frozen(value: Mapping[str, str] | None) -> Mapping[str, str]:
    return MappingProxyType(dict(value or {}))


def _glob(patterns: Sequence[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(fnmatch.translate(p.lower()) for p in patterns))


@dataclass(frozen=True, slots=True)
class RecordMatch:
    """Which cost records a rule takes: every non-empty criterion must hold; within one, any pattern.

    Patterns are case-insensitive globs (``/subscriptions/*/resourcegroups/rg-ai/*``); a tag pattern
    ``*`` only asks that the tag exists. An empty match takes every record.
    """

    resource_ids: tuple[str, ...] = ()
    resource_types: tuple[str, ...] = ()
    meter_categories: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    resource_groups: tuple[str, ...] = ()
    charge_types: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=lambda: _frozen(None))

    def compile(self) -> _CompiledMatch:
        fields = (
            ("resource_id", self.resource_ids),
            ("resource_type", self.resource_types),
            ("meter_category", self.meter_categories),
            ("service_name", self.services),
            ("resource_group", self.resource_groups),
            ("charge_type", self.charge_types),
        )
        checks: list[tuple[str, re.Pattern[str], dict[str | None, bool] | None]] = []
        for name, patterns in fields:
            rx = _glob(patterns)
            if rx is not None:
                checks.append((name, rx, None if name == "resource_id" else {}))
        tags = tuple((k.lower(), _glob([v])) for k, v in self.tags.items())
        return _CompiledMatch(tuple(checks), tags)


@dataclass(frozen=True, slots=True)
class _CompiledMatch:
    """A match's patterns. Records repeat their types, groups and categories, so each such field value's
    outcome is remembered; resource ids are nearly all distinct and are matched every time."""

    checks: tuple[tuple[str, re.Pattern[str], dict[str | None, bool] | None], ...]
    tags: tuple[tuple[str, re.Pattern[str] | None], ...]

    def matches(self, record: CostRecord, tags: Mapping[str, str]) -> bool:
        for name, rx, seen in self.checks:
            value = getattr(record, name)
            if seen is None:
                if value is None or rx.fullmatch(value.lower()) is None:
                    return False
                continue
            ok = seen.get(value)
            if ok is None:
                ok = seen[value] = value is not None and rx.fullmatch(value.lower()) is not None
            if not ok:
                return False
        for key, tag_rx in self.tags:
            value = tags.get(key)
            if value is None or (tag_rx is not None and tag_rx.fullmatch(value.lower()) is None):
                return False
        return True


@dataclass(frozen=True, slots=True)
class AllocationRule:
    """One allocation rule: which records it takes (``match``) and how it splits them (``method``).

    ``owner`` names fixed dimension values (DIRECT, or the target of FIXED weights via ``weights``);
    ``owner_tags`` maps a dimension to the tag holding its value; ``inventory`` maps a lower-cased
    resource id to owner dimensions. PROVISIONED capacity is ``capacity_per_day`` driver units, or the
    record quantity × ``capacity_per_quantity`` (PTU-hours × tokens per PTU-hour).
    """

    name: str
    method: Method
    match: RecordMatch = field(default_factory=RecordMatch)
    driver: DriverKind = ESTIMATED_COST
    usage: UsageFilter = field(default_factory=UsageFilter)
    owner: Mapping[str, str] = field(default_factory=lambda: _frozen(None))
    owner_tags: Mapping[str, str] = field(default_factory=lambda: _frozen(None))
    inventory: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: MappingProxyType({}))
    weights: tuple[tuple[Mapping[str, str], Decimal], ...] = ()
    capacity_per_day: int | None = None
    capacity_per_quantity: Decimal | None = None
    idle: IdlePolicy = IdlePolicy.VISIBLE
    idle_owner: Mapping[str, str] = field(default_factory=lambda: _frozen(None))

    def __post_init__(self) -> None:
        problem = _rule_problem(self)
        if problem:
            raise ValueError(f"allocation rule {self.name!r}: {problem}")

    @property
    def usage_sums(self) -> tuple[UsageSum, ...]:
        """The usage sums the rule weighs by: none when it names its owner or lists weights."""
        if self.method is Method.DIRECT or (self.method is Method.SHARED and self.weights):
            return ()
        return self.driver.sums


def _rule_problem(rule: AllocationRule) -> str | None:
    if not rule.name.strip():
        return "name must not be empty"
    owners = [
        rule.owner,
        rule.owner_tags,
        rule.idle_owner,
        *rule.inventory.values(),
        *(w for w, _ in rule.weights),
    ]
    unknown = sorted({k for o in owners for k in o if k not in DIMENSIONS})
    if unknown:
        return f"unknown dimension(s) {unknown}; choose from {list(DIMENSIONS)}"
    bad_fields = sorted(k for k in rule.usage.where if k not in DIMENSIONS and k not in DRIVER_FIELDS)
    if bad_fields:
        return f"usage filter field(s) {bad_fields} unknown; use a dimension or one of {list(DRIVER_FIELDS)}"
    if rule.method is Method.DIRECT and not (rule.owner or rule.owner_tags or rule.inventory):
        return "a direct rule needs owner, owner_tags or inventory"
    if rule.driver.needs_weights and not rule.weights:
        return f"driver {rule.driver.name!r} needs weights"
    if any(w <= 0 for _, w in rule.weights):
        return "weights must be positive"
    if rule.method is Method.PROVISIONED:
        if not rule.driver.measures_capacity:
            return f"a provisioned rule needs a usage driver ({capacity_kinds()})"
        if (rule.capacity_per_day is None) == (rule.capacity_per_quantity is None):
            return "a provisioned rule needs exactly one of capacity_per_day or capacity_per_quantity"
        if (rule.capacity_per_day or 1) <= 0 or (rule.capacity_per_quantity or 1) <= 0:
            return "capacity must be positive"
        if rule.idle is IdlePolicy.OWNER and not rule.idle_owner:
            return "idle policy 'owner' needs idle_owner"
    return None


_MATCH_FIELDS = (
    "resource_ids",
    "resource_types",
    "meter_categories",
    "services",
    "resource_groups",
    "charge_types",
)
_RULE_FIELDS = frozenset(
    {
        "name",
        "method",
        "match",
        "driver",
        "usage",
        "owner",
        "owner_tags",
        "inventory",
        "weights",
        "capacity_per_day",
        "capacity_per_quantity",
        "idle",
        "idle_owner",
    }
)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where} must be a string or a list of strings, got {value!r}")
    return tuple(value)


def _str_map(value: Any, where: str) -> Mapping[str, str]:
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError(f"{where} must map names to strings, got {value!r}")
    return MappingProxyType({str(k): v for k, v in value.items()})


def _enum(kind: type[StrEnum], value: Any, where: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        raise ValueError(f"{where} is {value!r}; choose from {[m.value for m in kind]}") from None


def _decimal(value: Any, where: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise ValueError(f"{where} must be a number, got {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"{where} must be a finite number, got {value!r}")
    return number


def _match(data: Any) -> RecordMatch:
    if not isinstance(data, Mapping):
        raise ValueError(f"match must be a mapping, got {data!r}")
    unknown = sorted(set(data) - {*_MATCH_FIELDS, "tags"})
    if unknown:
        raise ValueError(f"match has unknown field(s) {unknown}; use {[*_MATCH_FIELDS, 'tags']}")
    fields = {name: _strings(data[name], f"match.{name}") for name in _MATCH_FIELDS if name in data}
    return RecordMatch(**fields, tags=_str_map(data.get("tags", {}), "match.tags"))


def _usage(data: Any) -> UsageFilter:
    if not isinstance(data, Mapping) or not isinstance(data.get("where", {}), Mapping):
        raise ValueError(f"usage must be {{where: {{field: [values]}}, scope: resource|all}}, got {data!r}")
    where = {str(k): _strings(v, f"usage.where.{k}") for k, v in data.get("where", {}).items()}
    return UsageFilter(MappingProxyType(where), _enum(Scope, data.get("scope", "resource"), "usage.scope"))


def _weights(data: Any) -> tuple[tuple[Mapping[str, str], Decimal], ...]:
    if not isinstance(data, list) or not all(isinstance(w, Mapping) for w in data):
        raise ValueError(f"weights must be a list of {{owner: {{dim: value}}, weight: number}}, got {data!r}")
    return tuple(
        (_str_map(w.get("owner"), "weights[].owner"), _decimal(w.get("weight"), "weights[].weight"))
        for w in data
    )


def _rule_kwargs(data: Mapping[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "name": data.get("name", ""),
        "method": _enum(Method, data.get("method"), "method"),
    }
    converters: dict[str, Any] = {
        "match": _match,
        "usage": _usage,
        "weights": _weights,
        "driver": driver_kind,
        "idle": lambda v: _enum(IdlePolicy, v, "idle"),
        "owner": lambda v: _str_map(v, "owner"),
        "owner_tags": lambda v: _str_map(v, "owner_tags"),
        "idle_owner": lambda v: _str_map(v, "idle_owner"),
        "inventory": lambda v: MappingProxyType(
            {str(k).lower(): _str_map(o, f"inventory[{k!r}]") for k, o in _str_keyed(v).items()}
        ),
        "capacity_per_day": lambda v: int(_decimal(v, "capacity_per_day")),
        "capacity_per_quantity": lambda v: _decimal(v, "capacity_per_quantity"),
    }
    for name, convert in converters.items():
        if data.get(name) is not None:
            kwargs[name] = convert(data[name])
    return kwargs


def _str_keyed(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"inventory must map resource ids to owners, got {value!r}")
    return value


def rule_from_mapping(data: Mapping[str, Any], *, position: int = 0) -> AllocationRule:
    """Build a rule from its configuration/API form; ValueError names the rule, the field and the fix."""
    label = (
        f"allocation rule #{position + 1} ({data.get('name', '?')!r})" if isinstance(data, Mapping) else ""
    )
    try:
        if not isinstance(data, Mapping):
            raise ValueError(f"must be a mapping, got {data!r}")
        unknown = sorted(set(data) - _RULE_FIELDS)
        if unknown:
            raise ValueError(f"unknown field(s) {unknown}; use {sorted(_RULE_FIELDS)}")
        return AllocationRule(**_rule_kwargs(data))
    except ValueError as exc:
        raise ValueError(f"{label or f'allocation rule #{position + 1}'}: {exc}") from exc


def parse_rules(specs: Sequence[Mapping[str, Any]]) -> list[AllocationRule]:
    """Rules from their configuration/API form; ValidationError names the rule and field; names are unique."""
    rules = []
    for position, spec in enumerate(specs):
        try:
            rules.append(rule_from_mapping(spec, position=position))
        except ValueError as exc:
            raise ValidationError(str(exc), field=f"rules[{position}]") from exc
    seen: set[str] = set()
    for position, rule in enumerate(rules):
        if rule.name in seen:
            raise ValidationError(
                f"allocation rule #{position + 1}: name {rule.name!r} is used twice; rename one",
                field=f"rules[{position}].name",
            )
        seen.add(rule.name)
    return rules


def rule_to_mapping(rule: AllocationRule) -> dict[str, Any]:
    """The configuration/API form of a rule (JSON-safe; numbers that are money-like as strings)."""
    match: dict[str, Any] = {
        name: list(getattr(rule.match, name)) for name in _MATCH_FIELDS if getattr(rule.match, name)
    }
    if rule.match.tags:
        match["tags"] = dict(rule.match.tags)
    out: dict[str, Any] = {
        "name": rule.name,
        "method": rule.method.value,
        "match": match,
        "driver": rule.driver.name,
        "usage": {
            "where": {k: list(v) for k, v in rule.usage.where.items()},
            "scope": rule.usage.scope.value,
        },
        "owner": dict(rule.owner),
        "owner_tags": dict(rule.owner_tags),
        "inventory": {k: dict(v) for k, v in rule.inventory.items()},
        "weights": [{"owner": dict(o), "weight": str(w)} for o, w in rule.weights],
        "capacity_per_day": rule.capacity_per_day,
        "capacity_per_quantity": None
        if rule.capacity_per_quantity is None
        else str(rule.capacity_per_quantity),
        "idle": rule.idle.value,
        "idle_owner": dict(rule.idle_owner),
    }
    return out
