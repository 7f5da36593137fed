"""Limit policy files: defaults and fail modes loaded, errors naming the file, line, field and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from aifinops.engine.limit_policies import BudgetPeriod, FailMode
from aifinops.errors import ConfigError
from aifinops.gateway.policies import load_policies


def test_policy_file_errors_name_file_line_field_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "limits.yaml"
    path.write_text(
        "policies:\n"
        "  team:\n"
        "    - kind: rpm\n"
        "      limit: 10\n"
        "    - kind: rpm\n"
        "      limit: 5\n"
        "      scope: {colour: blue}\n"
        "    - {kind: budget, limit: '5.00'}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_policies(path)
    message = str(info.value)
    assert f"{path}:5: policies.team[1].scope" in message and "colour" in message
    assert f"{path}:8: policies.team[2]" in message and "needs 'currency'" in message


def test_policy_file_loads_defaults_and_fail_modes(tmp_path: Path) -> None:
    path = tmp_path / "limits.yaml"
    path.write_text(
        "global:\n"
        "  - {kind: max_tokens, limit: 4096, action: reject}\n"
        "policies:\n"
        "  team:\n"
        "    - {kind: rpm, name: team-rpm, limit: 10, scope: {key_id: '*'}}\n"
        "    - {kind: budget, limit: '5.00', currency: USD, period: day, downgrade_to: gpt-4o-mini}\n"
        "    - {kind: tpm, limit: 1000, fail: closed}\n",
        encoding="utf-8",
    )
    book = load_policies(path)
    team = book.for_key("team")
    assert team is not None and [p.name for p in team] == [
        "global[0]",
        "team-rpm",
        "policies.team[1]",
        "policies.team[2]",
    ]
    assert team[0].reject and team[1].fail is FailMode.OPEN and team[2].fail is FailMode.CLOSED
    assert team[3].fail is FailMode.CLOSED and team[2].period is BudgetPeriod.DAY
    assert book.for_key(None) == team[:1] and book.for_key("other") is None
