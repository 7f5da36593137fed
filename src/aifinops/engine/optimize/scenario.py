"""A what-if scenario: parts, each one lever's change over a scope, applied in the levers' order.

A part is plain JSON, as ``POST /api/whatif`` takes it and a recommendation carries it::

    {"lever": "loops", "scope": {"use_case": "doc-qa"}, "max_steps": 8}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from aifinops.engine.optimize.workload import SCOPE_KEYS, TELEMETRY_KEYS
from aifinops.errors import ValidationError

__all__ = ["LEVER_IDS", "PARAMS", "ScenarioPart", "parse_part", "parse_scenario"]

#: The levers, in the order their savings are computed: each acts on what the earlier ones leave.
LEVER_IDS = (
    "requests",
    "loops",
    "retries",
    "context",
    "output",
    "routing",
    "caching",
    "retrieval",
    "batch",
    "provisioning",
    "telemetry",
)

#: Each lever's settings: name → (type, smallest value) ; bool and list settings have no smallest value.
PARAMS: dict[str, dict[str, tuple[type, Any]]] = {
    "requests": {"drop_duplicates": (bool, None)},
    "loops": {"max_steps": (int, 1)},
    "retries": {"fixed_causes": (list, None)},
    "context": {"max_input_tokens": (int, 1)},
    "output": {"max_output_tokens": (int, 1)},
    "routing": {"to_deployment": (str, None)},
    "caching": {"cached_share": (float, (0, 1))},
    "retrieval": {"max_retrieved_tokens": (int, 1)},
    "batch": {"to_batch": (bool, None)},
    "provisioning": {"ptu_units": (int, 0)},
    "telemetry": {"sampling_percent": (int, 1), "retention_days": (int, 4), "plan": (str, None)},
}
#: Levers whose settings are each optional (at least one is needed).
OPTIONAL = frozenset({"telemetry"})
#: Log Analytics table plans (optimization-facts §6).
TABLE_PLANS = ("analytics", "basic", "auxiliary")
RETRY_CAUSES = ("rate_limited", "error", "timeout", "content_filtered")


@dataclass(frozen=True, slots=True)
class ScenarioPart:
    lever: str
    scope: Mapping[str, str]
    settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def as_json(self) -> dict[str, Any]:
        settings = {k: list(v) if isinstance(v, tuple) else v for k, v in self.settings.items()}
        return {"lever": self.lever, "scope": dict(self.scope), **settings}


def _fail(where: str, reason: str) -> ValidationError:
    return ValidationError(f"{where}: {reason}", field=where, reason=reason)


def _setting(where: str, name: str, value: Any, kind: type, least: Any) -> Any:
    if kind is bool and not isinstance(value, bool):
        raise _fail(f"{where}.{name}", f"must be true or false, got {value!r}")
    if kind is int and (isinstance(value, bool) or not isinstance(value, int) or value < least):
        raise _fail(f"{where}.{name}", f"must be a whole number ≥ {least}, got {value!r}")
    if kind is str:
        if not isinstance(value, str) or not value or len(value) > 128:
            raise _fail(f"{where}.{name}", f"must be a deployment name, got {value!r}")
        return value
    if kind is float:
        low, high = least
        number = value if isinstance(value, int | float | str) and not isinstance(value, bool) else None
        try:
            parsed = None if number is None else Decimal(str(number))
        except ArithmeticError:
            parsed = None
        if parsed is None or not parsed.is_finite() or not low <= parsed <= high:
            raise _fail(f"{where}.{name}", f"must be a number from {low} to {high}, got {value!r}")
        return str(parsed)
    if kind is list:
        if not isinstance(value, list) or not value or any(v not in RETRY_CAUSES for v in value):
            raise _fail(f"{where}.{name}", f"must be a non-empty list of {list(RETRY_CAUSES)}, got {value!r}")
        return tuple(value)
    return value


def _telemetry_settings(where: str, settings: Mapping[str, Any]) -> None:
    if settings.get("sampling_percent", 100) > 100:
        raise _fail(f"{where}.sampling_percent", f"must be at most 100, got {settings['sampling_percent']}")
    if settings.get("retention_days", 0) > 4383:
        raise _fail(
            f"{where}.retention_days", f"must be at most 4383 (12 years), got {settings['retention_days']}"
        )
    if "plan" in settings and settings["plan"] not in TABLE_PLANS:
        raise _fail(f"{where}.plan", f"must be one of {list(TABLE_PLANS)}, got {settings['plan']!r}")


def parse_part(raw: Any, where: str = "scenario[0]") -> ScenarioPart:
    """One part from JSON, every field checked; the error names the field and the reason."""
    if not isinstance(raw, Mapping):
        raise _fail(where, f"must be an object, got {type(raw).__name__}")
    lever = raw.get("lever")
    if lever not in PARAMS:
        raise _fail(f"{where}.lever", f"must be one of {sorted(PARAMS)}, got {lever!r}")
    scope = raw.get("scope", {})
    if not isinstance(scope, Mapping) or any(
        k not in (*SCOPE_KEYS, *TELEMETRY_KEYS) or not isinstance(v, str) for k, v in scope.items()
    ):
        keys = [*SCOPE_KEYS, *TELEMETRY_KEYS]
        raise _fail(f"{where}.scope", f"must map some of {keys} to text, got {scope!r}")
    params = PARAMS[lever]
    unknown = sorted(set(raw) - {"lever", "scope", *params})
    if unknown:
        raise _fail(where, f"unknown setting(s) {unknown} for lever {lever!r}; known: {sorted(params)}")
    missing = sorted(set(params) - set(raw))
    if missing and (lever not in OPTIONAL or len(missing) == len(params)):
        raise _fail(
            where, f"lever {lever!r} needs {missing if lever not in OPTIONAL else 'one of ' + str(missing)}"
        )
    settings = {n: _setting(where, n, raw[n], *params[n]) for n in params if n in raw}
    if lever == "telemetry":
        _telemetry_settings(where, settings)
    return ScenarioPart(lever, MappingProxyType(dict(scope)), MappingProxyType(settings))


def parse_scenario(raw: Any) -> tuple[ScenarioPart, ...]:
    """A scenario from JSON (a list of parts), in the levers' order (stable within one lever)."""
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise _fail("scenario", f"must be a list of parts, got {type(raw).__name__}")
    parts = [parse_part(p, f"scenario[{i}]") for i, p in enumerate(raw)]
    return tuple(sorted(parts, key=lambda p: LEVER_IDS.index(p.lever)))
