"""Settings: environment and aifinops.yaml, with errors naming the key, the value and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from aifinops.config import load_settings
from aifinops.errors import ConfigError


def test_defaults_are_the_embedded_setup() -> None:
    s = load_settings()
    assert s.database_url.startswith("sqlite:///")
    assert s.timezone == "UTC"


def test_bad_database_url_names_key_value_and_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIFINOPS_DATABASE_URL", "mysql://db/x")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "AIFINOPS_DATABASE_URL" in str(err.value)
    assert "mysql://db/x" in str(err.value)
    assert "sqlite://" in str(err.value)


def test_yaml_file_and_env_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "aifinops.yaml").write_text(
        "timezone: Europe/Paris\nport: 9000\nmetrics:\n  labels: [tenant]\n"
    )
    monkeypatch.setenv("AIFINOPS_PORT", "9100")
    s = load_settings()
    assert (s.timezone, s.port, s.metrics.labels) == ("Europe/Paris", 9100, ["tenant"])


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("AIFINOPS_TIMEZONE", "Mars/Olympus", "IANA"),
        ("AIFINOPS_METRICS__LABELS", '["colour"]', "unknown dimension"),
        ("AIFINOPS_PORT", "99999", "AIFINOPS_PORT"),
    ],
)
def test_invalid_values_fail_at_start(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, needle: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=needle):
        load_settings()


def test_unreadable_config_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIFINOPS_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match=r"missing\.yaml"):
        load_settings()
