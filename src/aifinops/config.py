"""The one Settings class: environment variables ``AIFINOPS_*`` and an optional ``aifinops.yaml``.

Nested sections use ``__`` in environment names, e.g. ``AIFINOPS_AZURE__TENANT_ID``. A YAML file is read
from ``AIFINOPS_CONFIG`` when set, else ``./aifinops.yaml`` when present. Environment wins over the file.
"""

from __future__ import annotations

import json
import os
import zoneinfo
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from aifinops.domain import DIMENSIONS, Outcome
from aifinops.errors import ConfigError

__all__ = [
    "OUTCOME_FIELDS",
    "ApimMapping",
    "AzureSettings",
    "GatewaySettings",
    "LogsSettings",
    "MetricsSettings",
    "ProvisionedDeployment",
    "ProvisionedSettings",
    "ReviewSettings",
    "Settings",
    "load_settings",
]


def _split_list(value: Any) -> Any:
    """A list from an environment value: a JSON array, or comma-separated items (``/a,/b``)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ValueError(
                f'not a JSON array ({exc}); give comma-separated items (a,b) or a JSON array (["a", "b"])'
            ) from exc
    return [item.strip() for item in text.split(",") if item.strip()]


def _json_value(value: Any) -> Any:
    """A mapping or a list of mappings from an environment value, which must be JSON."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError as exc:
        raise ValueError(
            f'not JSON ({exc}); give a JSON object such as {{"exports": 600}} or a JSON list of objects, '
            "or set it in aifinops.yaml"
        ) from exc


#: A list setting: the environment gives it comma-separated or as a JSON array.
TextList = Annotated[list[str], NoDecode, BeforeValidator(_split_list)]
#: Structured settings: JSON in the environment, YAML in aifinops.yaml.
Mappings = Annotated[list[dict[str, Any]], NoDecode, BeforeValidator(_json_value)]


def _known_dimensions(value: list[str]) -> list[str]:
    unknown = [v for v in value if v not in DIMENSIONS]
    if unknown:
        raise ValueError(f"unknown dimension(s) {unknown}; choose from {list(DIMENSIONS)}")
    return value


#: What an outcome event's properties can give (``logs.outcome_properties`` maps them to property names).
OUTCOME_FIELDS: tuple[str, ...] = ("task_id", "outcome", "use_case", "value", "currency", "unit")


#: A list of allocation dimension names (metric labels, allocation dimensions), each one known.
Dimensions = Annotated[list[str], NoDecode, BeforeValidator(_split_list), AfterValidator(_known_dimensions)]


class MetricsSettings(BaseModel):
    """Which allocation dimensions become Prometheus labels, and how many values each may have."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, never silently ignored

    labels: Dimensions = Field(default_factory=lambda: ["app", "use_case", "model"])
    label_cap: int = Field(default=20, ge=1, le=1000)
    refresh_seconds: float = Field(default=15.0, ge=0, le=3600)  # /metrics recomputes at most this often


class AllocationSettings(BaseModel):
    """How shared cost is allocated (rules as ``aifinops.engine.allocation_rules.parse_rules`` reads them)."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, never silently ignored

    dimensions: Dimensions = Field(default_factory=lambda: ["app", "use_case", "tenant"])
    max_unallocated_share: Decimal = Field(default=Decimal("0.05"), ge=0, le=1)
    rules: Mappings = Field(default_factory=list)
    # serve allocates the previous and the running month again this often (0: off; POST /api/allocation/run
    # and `aifinops allocate` still do it on request).
    every_seconds: int = Field(default=3600, ge=0, le=7 * 86_400)


class ProvisionedDeployment(BaseModel):
    """One provisioned (PTU) deployment: its units, and what an hour of them costs when not the list price.

    ``reservation_rate`` is the price of one reserved unit-hour (a reservation's price ÷ the hours of its
    term); ``tokens_per_unit_hour`` is the capacity one unit serves in an hour (input + output tokens), which
    makes the unused part of each hour estimated idle capacity.
    """

    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, never silently ignored

    units: int | None = Field(default=None, ge=1)  # None: not estimated (reported with the fix)
    deployment_type: str | None = Field(
        default=None, pattern="^(global_provisioned|data_zone_provisioned|provisioned)$"
    )
    region: str | None = None
    unit_price: Decimal | None = Field(default=None, ge=0)  # per unit-hour; None: the price book's
    reserved_units: int = Field(default=0, ge=0)
    reservation_rate: Decimal | None = Field(default=None, ge=0)
    tokens_per_unit_hour: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _reserved(self) -> ProvisionedDeployment:
        if self.reserved_units and self.reservation_rate is None:
            raise ValueError("reserved_units need reservation_rate (the price of one reserved unit-hour)")
        if self.units is not None and self.reserved_units > self.units:
            raise ValueError(f"reserved_units {self.reserved_units} exceed units {self.units}")
        return self


class ProvisionedSettings(BaseModel):
    """Provisioned deployments by name, for the estimated cost of their capacity."""

    model_config = ConfigDict(extra="forbid")

    deployments: dict[str, ProvisionedDeployment] = Field(default_factory=dict)
    # serve re-estimates the previous and current day this often, and the two months once a day (0: off)
    estimate_seconds: int = Field(default=3600, ge=0, le=86_400)


class ReviewSettings(BaseModel):
    """The monthly cost review (``aifinops review``): its basis and targets of cost per successful task."""

    # Fully loaded by default; a month without a stored allocation on it is reviewed on the estimate.
    basis: str = Field(default="actual", pattern="^(estimated|actual|amortized)$")
    targets: dict[str, Decimal] = Field(default_factory=dict)  # use case → target in ``currency``
    stale_usage_hours: float = Field(default=3.0, gt=0, le=24 * 31)  # a source silent longer is stale
    top_recommendations: int = Field(default=5, ge=1, le=50)  # how many recommendations the pack shows


class OptimizeConfig(BaseModel):
    """The recommendations (``aifinops recommend``, ``/api/recommendations``): what the levers are told."""

    batchable: list[str] = Field(default_factory=list)  # use cases or apps nobody waits for (Batch lever)
    # model or deployment → input tokens per minute one PTU serves (overrides the sizing table)
    ptu_throughput: dict[str, int] = Field(default_factory=dict)
    min_share: Decimal = Field(default=Decimal("0.02"), ge=0, le=1)  # of its scope's cost a finding saves


class ApimMapping(BaseModel):
    """One row of the API Management → allocation table: the first row whose subscription, product and API
    match (``*`` matches any) gives a request its allocation dimensions."""

    model_config = {"extra": "forbid"}

    subscription: str = "*"
    product: str = "*"
    api: str = "*"
    dimensions: dict[str, str] = Field(default_factory=dict)
    deployment_type: str | None = None  # e.g. global_standard: the SKU prices are looked up with
    region: str | None = None
    # False when the apps behind it report their own usage (SDK, gateway, OTLP): the requests are then
    # compared with that usage, never stored as events a second time.
    record_events: bool = True

    @field_validator("dimensions")
    @classmethod
    def _known(cls, value: dict[str, str]) -> dict[str, str]:
        _known_dimensions(list(value))
        return value


class LogsSettings(BaseModel):
    """Log Analytics workspaces (and workspace-based Application Insights resources) to read API Management
    LLM logs, GenAI dependencies, outcome events, token metrics and telemetry usage from."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, never silently ignored

    workspaces: TextList = Field(default_factory=list)  # workspace GUIDs, or ARM ids (resource-centric)
    endpoint: str = "https://api.loganalytics.io"
    audience: str | None = None  # token audience; default https://api.loganalytics.io
    overlap_minutes: int = Field(default=120, ge=0, le=2880)  # re-read before the watermark: late rows
    window_hours: int = Field(default=6, ge=1, le=24)  # one query covers at most this much time
    max_rows: int = Field(default=50_000, ge=10, le=500_000)  # more rows than this: the window is split
    apim_map: Annotated[list[ApimMapping], NoDecode, BeforeValidator(_json_value)] = Field(
        default_factory=list
    )
    task_id_headers: TextList = Field(default_factory=lambda: ["x-aifinops-task-id"])
    outcome_event: str = Field(default="TaskCompleted", min_length=1, max_length=128)
    # our field → the event's property; the event's outcome value → ours (JSON objects in the environment)
    outcome_properties: Annotated[dict[str, str], NoDecode, BeforeValidator(_json_value)] = Field(
        default_factory=dict
    )
    outcome_values: Annotated[dict[str, str], NoDecode, BeforeValidator(_json_value)] = Field(
        default_factory=dict
    )

    @field_validator("outcome_properties")
    @classmethod
    def _known_fields(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(OUTCOME_FIELDS))
        if unknown:
            raise ValueError(f"unknown outcome field(s) {unknown}; choose from {list(OUTCOME_FIELDS)}")
        return value

    @field_validator("outcome_values")
    @classmethod
    def _known_outcomes(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted({v for v in value.values() if v not in {o.value for o in Outcome}})
        if bad:
            raise ValueError(f"outcome(s) {bad} unknown; map to one of {[o.value for o in Outcome]}")
        return value


class AzureSettings(BaseModel):
    """Azure identity and what to collect."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, never silently ignored

    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    credential: str = Field(default="default", pattern="^(default|client_secret|workload_identity)$")
    authority_host: str | None = None
    federated_token_file: str | None = None  # workload identity; else AZURE_FEDERATED_TOKEN_FILE
    disable_instance_discovery: bool = False  # for authorities that are not Entra ID (Azure Stack, ADFS)
    management_endpoint: str = "https://management.azure.com"
    retail_prices_endpoint: str = "https://prices.azure.com/api/retail/prices"
    # Every productName AI models were sold under in the Retail Prices API from 2025-08 to 2026-09
    # (reference/retail-meters), and the serviceName they moved to; one $filter each.
    retail_prices_products: TextList = Field(
        default_factory=lambda: [
            "Azure OpenAI",
            "Azure OpenAI GPT5",
            "Azure OpenAI Reasoning",
            "Azure OpenAI Embedding",
            "Azure OpenAI Media",
            "Azure OpenAI Image Video",
            "Azure OpenAI OSS Models",
            "Azure OpenAI OSS models",
            "Azure OpenAI PP GPT4s",
            "Azure OpenAI PP FT GPT4s",
            "Azure AI Foundry Provisioned Throughput Reservation",
            "Azure Deepseek Models",
            "Azure Grok Models",
            "Grok model family",
            "Azure Kimi",
            "Azure Llama Models",
            "Llama models",
            "Azure Mistral Models",
            "Mistral Models",
            "Azure Phi Models",
            "Azure Fireworks Models",
            "Azure BFL Flux Models",
            "Azure Baseten Models",
            "Cohere Models",
            "MAI Models",
            "Qwen models",
        ]
    )
    retail_prices_services: TextList = Field(default_factory=lambda: ["Foundry Models"])
    retail_prices_currency: str = Field(default="USD", pattern="^[A-Z]{3}$")
    # serve re-reads the Retail Prices API this often (seconds); 0 turns it off.
    retail_prices_sync_seconds: int = Field(default=86_400, ge=0)
    cost_scopes: TextList = Field(default_factory=list)
    cost_group_tags: TextList = Field(default_factory=list)
    monitor_resources: TextList = Field(default_factory=list)
    monitor_metrics: Annotated[dict[str, dict[str, str]], NoDecode, BeforeValidator(_json_value)] = Field(
        default_factory=dict
    )  # resource type → metric → aggregation
    export_paths: TextList = Field(default_factory=list)
    export_blob_url: str | None = None
    subscriptions: TextList = Field(default_factory=list)
    collect_interval_seconds: Annotated[dict[str, int], NoDecode, BeforeValidator(_json_value)] = Field(
        default_factory=dict
    )
    logs: LogsSettings = Field(default_factory=LogsSettings)


class GatewaySettings(BaseModel):
    """The OpenAI-compatible gateway."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, never silently ignored

    host: str = "127.0.0.1"
    port: int = Field(default=8100, ge=1, le=65535)
    spool_path: str = "./aifinops-spool.jsonl"
    config_file: str | None = None  # upstreams, deployments and fallback routes (YAML)
    policies_file: str | None = None  # limit policies (YAML); none = no limits
    limits_lease_seconds: int = Field(default=300, ge=10, le=86_400)
    limits_redis_prefix: str = "aifinops:limits:"
    limits_redis_timeout_seconds: float = Field(default=0.5, gt=0, le=30)


class _YamlSource(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self._path = path

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        if self._path is None:
            return {}
        try:
            data = yaml.safe_load(self._path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read config file {self._path}: {exc}; fix or remove it") from exc
        if not isinstance(data, dict):
            raise ConfigError(
                f"config file {self._path} must hold a mapping at the top, got {type(data).__name__}"
            )
        return data


def _config_path() -> Path | None:
    explicit = os.environ.get("AIFINOPS_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(
                f"AIFINOPS_CONFIG points to {explicit!r}, which is not a file; fix the path or unset it"
            )
        return path
    default = Path("aifinops.yaml")
    return default if default.is_file() else None


class Settings(BaseSettings):
    """All configuration of aifinops. Build it with :func:`load_settings` to get clear errors."""

    model_config = SettingsConfigDict(env_prefix="AIFINOPS_", env_nested_delimiter="__", extra="forbid")

    database_url: str = "sqlite:///./aifinops.db"
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    currency: str = Field(default="USD", pattern="^[A-Z]{3}$")
    timezone: str = "UTC"
    price_files: TextList = Field(default_factory=list)
    max_batch_events: int = Field(default=10_000, ge=1, le=100_000)
    max_body_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    azure: AzureSettings = Field(default_factory=AzureSettings)
    allocation: AllocationSettings = Field(default_factory=AllocationSettings)
    review: ReviewSettings = Field(default_factory=ReviewSettings)
    optimize: OptimizeConfig = Field(default_factory=OptimizeConfig)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    provisioned: ProvisionedSettings = Field(default_factory=ProvisionedSettings)
    webhook_secret: SecretStr | None = None
    # Budgets as aifinops.engine.budgets.budget_from_dict reads them; channels {name, kind, url[, secret]}.
    budgets: Mappings = Field(default_factory=list)
    alert_channels: Mappings = Field(default_factory=list)
    budget_check_seconds: float = Field(default=300.0, ge=10, le=86_400)  # serve evaluates budgets this often
    # Raw usage events kept: this many full UTC months before the current one (None: all, the default); serve
    # applies it every retention_check_seconds (roll-ups, task figures, allocations and snapshots stay).
    retention_keep_months: int | None = Field(default=None, ge=1, le=1200)
    retention_check_seconds: float = Field(default=3600.0, ge=60, le=7 * 86_400)
    # Client model names → meter family (added to engine.model_aliases.DEFAULT_ALIASES), and the input tokens
    # past which a model is priced at its long-context meters (default 272,000).
    model_aliases: Annotated[dict[str, str], NoDecode, BeforeValidator(_json_value)] = Field(
        default_factory=dict
    )
    context_thresholds: Annotated[dict[str, int], NoDecode, BeforeValidator(_json_value)] = Field(
        default_factory=dict
    )
    # Replicas of serve share scheduled jobs through leased rows: a dead replica's turn is taken over after
    # the lease runs out; each replica looks at each job's row every poll.
    schedule_lease_seconds: float = Field(default=30.0, ge=1, le=3600)
    schedule_poll_seconds: float = Field(default=5.0, ge=0.1, le=600)
    shutdown_grace_seconds: float = Field(default=10.0, ge=0, le=600)  # running jobs may finish on SIGTERM

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            shown = value.split("@")[-1] if "@" in value else value
            raise ValueError(f"must start with sqlite:// or postgresql://, got {shown[:60]!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r} (e.g. 'UTC', 'Europe/Paris')") from exc
        return value

    @model_validator(mode="after")
    def _redis_scheme(self) -> Settings:
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"redis_url must start with redis:// or rediss://, got {self.redis_url[:40]!r}")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls, _config_path()))


#: What to do about a value of the wrong type, by pydantic error type (the message says what is wrong).
_FIXES = {
    "int_parsing": "set a whole number",
    "int_from_float": "set a whole number",
    "float_parsing": "set a number",
    "decimal_parsing": "set a number",
    "bool_parsing": "set true or false",
    "list_type": "give comma-separated items (a,b) or a JSON array",
    "dict_type": "give a JSON object (or a mapping in aifinops.yaml)",
    "extra_forbidden": "remove it or fix its spelling (the settings are in src/aifinops/config.py)",
    "string_pattern_mismatch": "use one of the values the pattern allows",
}


def _shown(key: str, value: Any) -> str:
    """A value as an error may show it: secrets hidden, URL credentials cut off."""
    if any(word in key for word in ("SECRET", "PASSWORD", "KEY")) and value not in (None, ""):
        return "'***'"
    if isinstance(value, str) and "@" in value and "://" in value:
        scheme, _, rest = value.partition("://")
        return repr(f"{scheme}://…@{rest.rsplit('@', 1)[-1]}")
    return repr(value)


def _problem(err: ErrorDetails) -> str:
    names = [str(p).upper() for p in err["loc"] if isinstance(p, str)]
    items = [p for p in err["loc"] if isinstance(p, int)]
    key = "AIFINOPS_" + "__".join(names) + (f" (item {items[0]})" if items else "")
    fix = _FIXES.get(err["type"])
    return f"{key}={_shown(key, err.get('input'))}: {err['msg']}" + (f"; {fix}" if fix else "")


def load_settings(**overrides: Any) -> Settings:
    """Build Settings, turning validation errors into one ConfigError naming key, value and fix."""
    try:
        return Settings(**overrides)
    except PydanticValidationError as exc:
        problems = [_problem(err) for err in exc.errors()]
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from exc
    except SettingsError as exc:  # a value the settings sources could not even decode
        raise ConfigError(
            f"invalid configuration: {exc}; check the AIFINOPS_* variables and aifinops.yaml"
        ) from exc
