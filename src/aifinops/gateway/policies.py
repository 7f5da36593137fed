"""Limit policies from YAML: named policy sets for API keys, a global set for every call, fail modes.

File shape (docs/gateway-limits.md has the full reference)::

    global:                      # applies to every call
      - kind: deployment_allowlist
        deployments: [gpt-4o, gpt-4o-mini]
    policies:
      standard:                  # referenced by an API key's ``policy``
        - kind: rpm
          scope: {key_id: "*"}   # one counter per key
          limit: 600
        - kind: budget
          scope: {app: "*"}
          limit: "250.00"
          currency: USD
          period: month
          downgrade_to: gpt-4o-mini

A policy file is all or nothing: one bad limit refuses the whole file with every problem named (file, line,
field, reason), because silently skipping a limit would lift it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from aifinops.engine.limit_kinds import KINDS
from aifinops.engine.limit_policies import SCOPE_FIELDS, BudgetPeriod, FailMode, Policy
from aifinops.errors import ConfigError

__all__ = ["LimitSpec", "PolicyBook", "load_policies", "parse_policies"]


class LimitSpec(BaseModel):
    """One limit as written in the policy file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    name: str | None = None
    scope: dict[str, str] = Field(default_factory=dict)
    limit: Decimal | None = Field(default=None, ge=0)
    currency: str | None = Field(default=None, pattern="^[A-Z]{3}$")
    window_seconds: int = Field(default=60, ge=1, le=86_400)
    period: BudgetPeriod = BudgetPeriod.MONTH
    deployments: list[str] = Field(default_factory=list)
    action: Literal["clamp", "reject", "block", "downgrade"] | None = None
    downgrade_to: str | None = None
    default_output_tokens: int = Field(default=4096, ge=1)
    fail: FailMode | None = None
    task_ttl_seconds: int = Field(default=86_400, ge=60)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in KINDS:
            raise ValueError(f"unknown limit kind {value!r}; choose from {sorted(KINDS)}")
        return value

    @field_validator("scope")
    @classmethod
    def _known_scope(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(SCOPE_FIELDS))
        if unknown:
            raise ValueError(f"unknown scope field(s) {unknown}; choose from {list(SCOPE_FIELDS)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> LimitSpec:
        kind = KINDS[self.kind]
        if kind.deployments:
            if not self.deployments:
                raise ValueError(f"{kind.name} needs a non-empty 'deployments' list")
        elif self.limit is None:
            raise ValueError(f"{kind.name} needs 'limit'")
        if kind.money and self.currency is None:
            raise ValueError(
                f"{kind.name} needs 'currency' (ISO code, e.g. USD): money never mixes currencies"
            )
        if not kind.money and self.limit is not None and self.limit != self.limit.to_integral_value():
            raise ValueError(f"{kind.name} counts whole units; 'limit' must be an integer, got {self.limit}")
        if self.action == "downgrade" and ("downgrade" not in kind.actions or not self.downgrade_to):
            raise ValueError(
                f"action 'downgrade' is for {_kinds_with('downgrade')} limits and needs "
                "'downgrade_to: <cheaper deployment>'"
            )
        if self.downgrade_to and self.action not in (None, "downgrade"):
            raise ValueError(f"'downgrade_to' contradicts action {self.action!r}")
        if self.action in ("clamp", "reject") and self.action not in kind.actions:
            raise ValueError(f"action {self.action!r} is for {_kinds_with(self.action)} limits")
        if self.fail is not None and kind.plan is None:
            raise ValueError(f"{kind.name} needs no counter store, so 'fail' does not apply")
        return self

    def to_policy(self, name: str) -> Policy:
        return Policy(
            name=self.name or name,
            kind=self.kind,
            scope=dict(self.scope),
            limit=self.limit if self.limit is not None else Decimal(0),
            currency=self.currency,
            window_seconds=self.window_seconds,
            period=self.period,
            deployments=frozenset(self.deployments),
            reject=self.action == "reject",
            downgrade_to=self.downgrade_to,
            default_output_tokens=self.default_output_tokens,
            fail=self.fail or KINDS[self.kind].fail or FailMode.OPEN,
            task_ttl_seconds=self.task_ttl_seconds,
        )


@dataclass(frozen=True, slots=True)
class PolicyBook:
    """Global limits plus named policy sets; ``for_key`` answers the limits of one key's policy."""

    global_policies: tuple[Policy, ...] = ()
    named: Mapping[str, tuple[Policy, ...]] = field(default_factory=dict)

    def for_key(self, policy: str | None) -> tuple[Policy, ...] | None:
        """The limits of a key with policy ``policy``; None when that policy name is not defined."""
        if policy is None:
            return self.global_policies
        extra = self.named.get(policy)
        return None if extra is None else self.global_policies + extra

    @property
    def empty(self) -> bool:
        return not self.global_policies and not any(self.named.values())


def _kinds_with(action: str) -> str:
    return ", ".join(sorted(k.name for k in KINDS.values() if action in k.actions))


class _LineLoader(yaml.SafeLoader):
    """A YAML loader that remembers the line of every mapping, so errors can point at it."""


def _mapping_with_line(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    data = {str(k): v for k, v in loader.construct_mapping(node, deep=True).items()}
    data["__line__"] = node.start_mark.line + 1
    return data


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_line)


def _strip_lines(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_lines(v) for k, v in value.items() if k != "__line__"}
    if isinstance(value, list):
        return [_strip_lines(v) for v in value]
    return value


def _parse_set(items: Any, *, where: str, source: str, problems: list[str]) -> tuple[Policy, ...]:
    if not isinstance(items, list):
        problems.append(f"{source}: {where} must be a list of limits, got {type(items).__name__}")
        return ()
    out = []
    for index, item in enumerate(items):
        line = item.get("__line__", "?") if isinstance(item, dict) else "?"
        try:
            spec = LimitSpec.model_validate(_strip_lines(item))
        except PydanticValidationError as exc:
            for err in exc.errors():
                field_name = ".".join(str(p) for p in err["loc"]) or "limit"
                problems.append(f"{source}:{line}: {where}[{index}].{field_name}: {err['msg']}")
            continue
        out.append(spec.to_policy(f"{where}[{index}]"))
    return tuple(out)


def parse_policies(data: Any, *, source: str = "<policies>") -> PolicyBook:
    """Build a PolicyBook from loaded YAML; raises ConfigError naming every problem found."""
    if data is None:
        return PolicyBook()
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the policy file must hold a mapping with 'global' and/or 'policies'")
    problems: list[str] = []
    unknown = sorted(set(data) - {"global", "policies", "__line__"})
    if unknown:
        problems.append(f"{source}: unknown top-level key(s) {unknown}; use 'global' and 'policies'")
    global_set = _parse_set(data.get("global", []), where="global", source=source, problems=problems)
    named: dict[str, tuple[Policy, ...]] = {}
    sets = data.get("policies", {}) or {}
    if not isinstance(sets, dict):
        problems.append(f"{source}: 'policies' must map a policy name to a list of limits")
        sets = {}
    for name, items in sets.items():
        if name != "__line__":
            named[str(name)] = _parse_set(items, where=f"policies.{name}", source=source, problems=problems)
    _check_names([*global_set, *(p for s in named.values() for p in s)], source, problems)
    if problems:
        raise ConfigError("invalid limit policies: " + "; ".join(problems))
    return PolicyBook(global_set, named)


def _check_names(policies: Sequence[Policy], source: str, problems: list[str]) -> None:
    seen: set[str] = set()
    for policy in policies:
        if policy.name in seen:
            problems.append(f"{source}: limit name {policy.name!r} is used twice; names must be unique")
        seen.add(policy.name)


def load_policies(path: str | Path) -> PolicyBook:
    """Read and validate a policy file."""
    file = Path(path)
    try:
        data = yaml.load(file.read_text(encoding="utf-8"), Loader=_LineLoader)  # a SafeLoader subclass
    except OSError as exc:
        raise ConfigError(f"cannot read limit policy file {file}: {exc}; fix the path") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"limit policy file {file} is not valid YAML: {exc}") from exc
    return parse_policies(data, source=str(file))
