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


@pytest.mark.parametrize(
    ("name", "value", "attr", "expected"),
    [
        ("AIFINOPS_AZURE__EXPORT_PATHS", "/data/exports", ("azure", "export_paths"), ["/data/exports"]),
        ("AIFINOPS_AZURE__EXPORT_PATHS", "/a, /b ,/c", ("azure", "export_paths"), ["/a", "/b", "/c"]),
        ("AIFINOPS_AZURE__EXPORT_PATHS", '["/a,b", "/c"]', ("azure", "export_paths"), ["/a,b", "/c"]),
        ("AIFINOPS_AZURE__COST_SCOPES", "subscriptions/s1", ("azure", "cost_scopes"), ["subscriptions/s1"]),
        ("AIFINOPS_METRICS__LABELS", "tenant,app", ("metrics", "labels"), ["tenant", "app"]),
        ("AIFINOPS_PRICE_FILES", "a.yaml,b.yaml", ("price_files",), ["a.yaml", "b.yaml"]),
        ("AIFINOPS_AZURE__SUBSCRIPTIONS", "", ("azure", "subscriptions"), []),
    ],
)
def test_list_settings_take_a_comma_separated_value_or_json(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, attr: tuple[str, ...], expected: list[str]
) -> None:
    monkeypatch.setenv(name, value)
    got: object = load_settings()
    for part in attr:
        got = getattr(got, part)
    assert got == expected


@pytest.mark.parametrize(
    ("name", "value", "fix"),
    [
        ("AIFINOPS_AZURE__EXPORT_PATHS", '["/a", ', "comma-separated"),
        ("AIFINOPS_AZURE__COLLECT_INTERVAL_SECONDS", "exports=60", "JSON object"),
        ("AIFINOPS_BUDGETS", "monthly", "JSON"),
        ("AIFINOPS_PORT", "eighty", "whole number"),
        ("AIFINOPS_AZURE__DISABLE_INSTANCE_DISCOVERY", "maybe", "true or false"),
        ("AIFINOPS_AZURE__EXPORT_PATH", "/data", "spelling"),
    ],
)
def test_a_bad_setting_is_one_line_through_the_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str, value: str, fix: str
) -> None:
    import sys

    from aifinops.cli import main

    monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", ["aifinops", "collect"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    err = capsys.readouterr().err
    assert exit_info.value.code != 0
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert name in err and value in err and fix in err
