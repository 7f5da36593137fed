"""The Dockerfile, deploy/compose.yaml and the Container Apps template, checked offline for their promises."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from aifinops.cli import app as cli_app
from aifinops.config import Settings, load_settings
from aifinops.store import Store

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
BICEP = DEPLOY / "aca" / "main.bicep"
ROLES_BICEP = DEPLOY / "aca" / "roles.bicep"
ROLES = {
    "Cost Management Reader": "72fafb9e-0641-4937-9268-a91bfd8191a3",
    "Monitoring Reader": "43d0d8ad-25c7-4714-9337-8ba259a9fe05",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    "Log Analytics Reader": "73c42c96-874c-492b-b04d-ab87d138a893",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
}


def check_image() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_image", DEPLOY / "container" / "check_image.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def cli_commands() -> set[str]:
    import typer.main

    group = typer.main.get_command(cli_app)
    return set(group.commands)  # type: ignore[attr-defined]


def setting_known(name: str) -> bool:
    """Whether AIFINOPS_A__B names a field of Settings (nested with ``__``), as pydantic-settings reads it."""
    model: type[BaseModel] = Settings
    parts = name.removeprefix("AIFINOPS_").lower().split("__")
    for i, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return False
        annotation = field.annotation
        if i < len(parts) - 1:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return False
            model = annotation
    return True


# --- Dockerfile ---------------------------------------------------------------------------------------------


def test_the_image_is_multi_stage_non_root_and_runs_every_command_through_one_entrypoint() -> None:
    image = check_image().Image.parse((ROOT / "Dockerfile").read_text())
    stages = image.of("FROM")
    assert [s.stage for s in stages] == ["build", "runtime"]
    assert all("slim" in s.args for s in stages) or "slim" in next(i.args for i in image.of("ARG"))
    runtime = [i for i in image.instructions if i.stage == "runtime"]
    assert not [i for i in runtime if i.keyword == "RUN"]  # the runtime stage only copies the environment
    (user,) = [i for i in runtime if i.keyword == "USER"]
    assert not user.args.startswith(("0", "root"))
    assert image.entrypoint == ["/usr/local/bin/aifinops-entrypoint"] and image.cmd == ["serve"]
    copied = {i.args.split()[-1] for i in image.of("COPY")}
    assert "/usr/local/bin/aifinops-entrypoint" in copied
    for run in image.of("RUN"):  # one source for the image and the fresh-environment check
        assert run.args.startswith("sh /usr/local/lib/aifinops/steps.sh "), run.args
    assert {r.args.split()[2] for r in image.of("RUN")} == {"build", "install", "datadir"}


def test_the_entrypoint_defaults_to_serve_and_passes_every_command_through() -> None:
    entry = (DEPLOY / "container" / "entrypoint.sh").read_text()
    assert "set -- serve" in entry and 'exec aifinops "$@"' in entry and "aifinops db upgrade" in entry
    assert {"serve", "gateway", "collect", "db", "keys"} <= cli_commands()


def test_the_build_context_holds_what_the_dockerfile_copies_and_nothing_else() -> None:
    rules = [r for r in (ROOT / ".dockerignore").read_text().splitlines() if r and not r.startswith("#")]
    assert rules[0] == "*"
    allowed = {r[1:].rstrip("/") for r in rules if r.startswith("!")}
    image = check_image().Image.parse((ROOT / "Dockerfile").read_text())
    for copy in image.of("COPY"):
        if "--from=" in copy.args:
            continue
        for source in [p for p in copy.args.split() if not p.startswith("--")][:-1]:
            assert (ROOT / source).exists(), source
            assert any(source == a or source.startswith(a + "/") for a in allowed), source


def test_the_check_refuses_a_step_it_cannot_carry_out(tmp_path: Path) -> None:
    module = check_image()
    image = module.Image.parse("FROM python:3.11-slim AS build\nRUN apt-get install -y curl\n")
    fresh = module.FreshEnvironment(image, tmp_path, sys.executable)
    with pytest.raises(SystemExit, match=r"does not call deploy/container/steps\.sh"):
        fresh.carry_out()
    image = module.Image.parse("FROM python:3.11-slim AS build\nVOLUME /data\n")
    with pytest.raises(SystemExit, match="VOLUME"):
        module.FreshEnvironment(image, tmp_path, sys.executable).carry_out()


def test_image_paths_map_into_the_fresh_root(tmp_path: Path) -> None:
    module = check_image()
    fresh = module.FreshEnvironment(module.Image(), tmp_path, sys.executable)
    assert fresh.map("sqlite:////var/lib/aifinops/a.db") == f"sqlite:///{tmp_path}/var/lib/aifinops/a.db"
    assert fresh.map("/opt/aifinops/bin:/usr/local/bin") == f"{tmp_path}/opt/aifinops/bin:/usr/local/bin"
    assert fresh.map("/usr/local/bin/aifinops-entrypoint") == f"{tmp_path}/usr/local/bin/aifinops-entrypoint"


# --- compose ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


AIFINOPS = {"init", "serve-1", "serve-2", "gateway-1", "gateway-2"}


def test_compose_runs_the_production_shape(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "prometheus", "grafana"} | AIFINOPS
    assert {services[s]["command"][0] for s in ("serve-1", "serve-2")} == {"serve"}
    assert {services[s]["command"][0] for s in ("gateway-1", "gateway-2")} == {"gateway"}
    assert {services[s]["image"] for s in AIFINOPS} == {"aifinops:local"}
    assert {services[s]["build"]["dockerfile"] for s in AIFINOPS} == {"Dockerfile"}
    assert (DEPLOY / services["serve-1"]["build"]["context"] / "Dockerfile").is_file()
    for name, service in services.items():
        for dep in service.get("depends_on", {}):
            assert dep in services, (name, dep)
    # Every serve replica and gateway replica shares one database and one Redis.
    envs = [services[s]["environment"] for s in AIFINOPS]
    assert (
        len({e["AIFINOPS_DATABASE_URL"] for e in envs}) == 1
        and len({e["AIFINOPS_REDIS_URL"] for e in envs}) == 1
    )
    assert (
        "@postgres:5432/" in envs[0]["AIFINOPS_DATABASE_URL"]
        and "//redis:6379" in envs[0]["AIFINOPS_REDIS_URL"]
    )
    # Two gateways never share a spool file.
    spools = [v for s in ("gateway-1", "gateway-2") for v in services[s]["volumes"] if "spool" in v]
    assert len(set(spools)) == 2


def test_compose_settings_are_settings_aifinops_accepts(compose: dict[str, Any]) -> None:
    env = compose["services"]["serve-1"]["environment"]
    assert all(setting_known(k) for k in env), env
    values = {k.removeprefix("AIFINOPS_").lower(): v for k, v in env.items() if "__" not in k}
    load_settings(**values)  # the URLs validate
    for line in (DEPLOY / "compose" / "aifinops.env").read_text().splitlines():
        key = line.lstrip("# ").split("=", 1)[0]
        if key.startswith("AIFINOPS_"):
            assert setting_known(key), key


def test_compose_probes_and_scrapes_what_the_processes_serve(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "/readyz" in " ".join(services["serve-1"]["healthcheck"]["test"])
    assert ":8000/" in " ".join(services["serve-1"]["healthcheck"]["test"])
    assert ":8100/healthz" in " ".join(services["gateway-1"]["healthcheck"]["test"])
    assert all(p.endswith(":8000") for s in ("serve-1", "serve-2") for p in services[s]["ports"])
    assert all(p.endswith(":8100") for s in ("gateway-1", "gateway-2") for p in services[s]["ports"])
    prometheus = yaml.safe_load((DEPLOY / "compose" / "prometheus.yml").read_text())
    targets = {t for job in prometheus["scrape_configs"] for c in job["static_configs"] for t in c["targets"]}
    assert targets == {"serve-1:8000", "serve-2:8000", "gateway-1:8100", "gateway-2:8100"}
    (secured,) = [j for j in prometheus["scrape_configs"] if "authorization" in j]
    assert secured["authorization"]["credentials_file"] == "/keys/metrics.token"
    assert "/keys/metrics.token" in services["init"]["command"][0]


def test_compose_mounts_files_that_exist(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), (name, source)
    grafana = compose["services"]["grafana"]
    mounts = dict(v.split(":")[:2] for v in grafana["volumes"])
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/aifinops.yaml").read_text())
    assert mounts["./grafana/dashboards"] == provider["providers"][0]["options"]["path"]
    assert "read.token" in grafana["entrypoint"][-1] and "AIFINOPS_API_KEY" in grafana["entrypoint"][-1]


def test_the_compose_gateway_config_loads() -> None:
    from aifinops.gateway.routing import load_gateway_config

    config = load_gateway_config(DEPLOY / "compose" / "gateway.yaml", environ={})
    assert config.chain("gpt-4o-mini")


# --- Azure Container Apps -----------------------------------------------------------------------------------


def _code(text: str) -> str:
    """The Bicep text without comments and string contents (for structure checks)."""
    out, i, in_string = [], 0, False
    while i < len(text):
        c = text[i]
        if in_string:
            if c == "\\":
                i += 1
            elif c == "'":
                in_string = False
                out.append(c)
        elif c == "'":
            in_string = True
            out.append(c)
        elif text.startswith("//", i):
            i = text.find("\n", i)
            i = len(text) if i < 0 else i
            continue
        else:
            out.append(c)
        i += 1
    assert not in_string, "an unterminated string"
    return "".join(out)


@pytest.mark.parametrize("path", [BICEP, ROLES_BICEP], ids=lambda p: p.name)
def test_bicep_is_balanced_and_uses_every_parameter(path: Path) -> None:
    text = path.read_text()
    code = _code(text)
    for opening, closing in ("{}", "[]", "()"):
        assert code.count(opening) == code.count(closing), (path.name, opening)
    params = re.findall(r"^param (\w+) ", text, flags=re.M)
    assert params
    uncommented = "\n".join(line.split("// ")[0] for line in text.splitlines())
    body = re.sub(r"^param .*$", "", uncommented, flags=re.M)
    for param in params:
        assert re.search(rf"\b{param}\b", body), f"{path.name}: param {param} is never used"
    for kind, version in re.findall(r"^resource \w+ '([\w./]+)@([\w-]+)'", text, flags=re.M):
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}(-preview)?", version), (kind, version)


def test_the_container_apps_run_the_image_commands_with_probes_the_api_serves(sqlite_store: Store) -> None:
    text = BICEP.read_text()
    assert re.findall(r"^resource \w+ '([\w./]+)@", text, flags=re.M) == [
        "Microsoft.ManagedIdentity/userAssignedIdentities",
        "Microsoft.OperationalInsights/workspaces",
        "Microsoft.App/managedEnvironments",
        "Microsoft.App/containerApps",
        "Microsoft.App/containerApps",
        "Microsoft.App/jobs",
    ]
    assert text.count("type: 'UserAssigned'") == 3  # serve, gateway, the admin-key job
    args = re.findall(r"args: \[ ([^\]]+) \]", text)
    commands = {a.split(",")[0].strip().strip("'") for a in args}
    assert commands == {"serve", "gateway", "keys"} and commands <= cli_commands()
    from aifinops.api.app import create_app

    served = set(create_app(load_settings(), store=sqlite_store).openapi()["paths"])
    probes = set(re.findall(r"path: '(/\w+)', port: 8000", text))
    assert probes == {"/healthz", "/readyz"} and probes <= served
    assert "targetPort: 8000" in text and "targetPort: 8100" in text


def test_the_container_apps_settings_are_settings_aifinops_accepts() -> None:
    names = set(re.findall(r"name: '(AIFINOPS_\w+)'", BICEP.read_text()))
    assert {"AIFINOPS_DATABASE_URL", "AIFINOPS_REDIS_URL", "AIFINOPS_AZURE__CLIENT_ID"} <= names
    unknown = [n for n in names if n != "AIFINOPS_MIGRATE" and not setting_known(n)]
    assert unknown == []
    assert "AIFINOPS_MIGRATE" in (DEPLOY / "container" / "entrypoint.sh").read_text()


def test_the_managed_identity_gets_the_documented_read_roles() -> None:
    text = ROLES_BICEP.read_text()
    assigned = dict(re.findall(r"^\s+'?([\w ]+?)'?: '([0-9a-f-]{36})'$", text, flags=re.M))
    assert assigned == ROLES
    readme = (DEPLOY / "aca" / "README.md").read_text()
    for role, guid in ROLES.items():
        assert f"| {role} | `{guid}` |" in readme
    assert "module roles 'roles.bicep'" in BICEP.read_text() and "targetScope = 'subscription'" in text
