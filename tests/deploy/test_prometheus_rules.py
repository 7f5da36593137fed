"""The Prometheus alerting rules in deploy/prometheus: valid, and firing as their unit tests expect.

``promtool`` comes from Debian's ``prometheus`` package; ``scripts/services.sh`` installs it as root.
Without it these tests fail: CI must run the rules' unit tests, never skip them.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail(
            "promtool is missing: apt-get install -y prometheus (scripts/services.sh does it as root)"
        )
    return subprocess.run(
        [promtool, *args], cwd=DEPLOY, capture_output=True, text=True, timeout=120, check=False
    )


def test_rule_files_are_valid() -> None:
    files = sorted(str(p.relative_to(DEPLOY)) for p in (DEPLOY / "rules").glob("*.yml"))
    assert files, "no rule files under deploy/prometheus/rules"
    done = _promtool("check", "rules", *files)
    assert done.returncode == 0, done.stdout + done.stderr


def test_budget_stale_data_and_unpriced_alerts_fire_as_their_unit_tests_expect() -> None:
    tests = sorted(str(p.relative_to(DEPLOY)) for p in (DEPLOY / "tests").glob("*.test.yml"))
    assert tests, "no promtool unit tests under deploy/prometheus/tests"
    done = _promtool("test", "rules", *tests)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout
