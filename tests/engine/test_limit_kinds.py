"""The limit kind registry: every kind module is registered once, declares what its policies need."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

from aifinops.engine import limit_kinds
from aifinops.engine.limit_kinds import KINDS, LimitKind
from aifinops.engine.limit_policies import FailMode
from aifinops.errors import ConfigError
from aifinops.gateway.policies import parse_policies


def _kind_modules() -> list[str]:
    return [m.name for m in pkgutil.iter_modules(limit_kinds.__path__) if m.name != "kind"]


@pytest.mark.parametrize("module", _kind_modules())
def test_every_kind_module_is_registered_under_its_name(module: str) -> None:
    kind = importlib.import_module(f"aifinops.engine.limit_kinds.{module}").KIND
    assert isinstance(kind, LimitKind) and KINDS[kind.name] is kind


def test_the_registry_holds_the_documented_kinds() -> None:
    assert sorted(KINDS) == [
        "budget",
        "concurrency",
        "context_tokens",
        "deployment_allowlist",
        "max_cost_per_task",
        "max_retries",
        "max_steps",
        "max_tokens",
        "rpm",
        "tpm",
    ]


@pytest.mark.parametrize("kind", list(KINDS.values()), ids=lambda k: k.name)
def test_counted_kinds_have_a_fail_mode_and_money_fails_closed(kind: LimitKind) -> None:
    assert kind.check is not None or kind.plan is not None
    assert (kind.fail is None) == (kind.plan is None)
    if kind.money:
        assert kind.fail is FailMode.CLOSED


def test_an_unknown_kind_refuses_the_policy_file_naming_the_choices() -> None:
    with pytest.raises(ConfigError) as info:
        parse_policies({"global": [{"kind": "teleports", "limit": 1}]}, source="p.yaml")
    assert "p.yaml:?: global[0].kind" in str(info.value) and "'teleports'" in str(info.value)
    assert "rpm" in str(info.value)


@pytest.mark.parametrize(
    ("limit", "problem"),
    [
        ({"kind": "deployment_allowlist"}, "needs a non-empty 'deployments' list"),
        ({"kind": "rpm"}, "rpm needs 'limit'"),
        ({"kind": "max_cost_per_task", "limit": 1}, "needs 'currency'"),
        ({"kind": "tpm", "limit": "1.5"}, "counts whole units"),
        ({"kind": "rpm", "limit": 1, "action": "downgrade", "downgrade_to": "m"}, "is for budget limits"),
        ({"kind": "rpm", "limit": 1, "action": "clamp"}, "is for max_tokens limits"),
        ({"kind": "context_tokens", "limit": 1, "fail": "closed"}, "needs no counter store"),
    ],
)
def test_policy_validation_follows_what_each_kind_declares(limit: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        parse_policies({"global": [limit]})
