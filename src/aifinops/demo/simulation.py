"""A realistic simulated month of gen-AI usage for the demo and the benchmarks (deterministic by seed).

Several apps and use cases, agents that sometimes loop, retries after 429s, failed and abandoned tasks,
tenants and cost centers, a mix of models and deployment types — and one deliberately wasteful use case
(``doc-qa``: a large model, huge uncached context, retries and a poor success rate).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aifinops.demo.retrievals import FALLBACK_TOKENS, falls_back, returned_tokens
from aifinops.domain import DeploymentType, EventKind, EventStatus, Outcome, TaskOutcome, UsageEvent

__all__ = [
    "RESOURCE_GROUP",
    "SUBSCRIPTION",
    "USE_CASES",
    "SimulatedTask",
    "UseCase",
    "Waste",
    "aoai_account",
    "arm_id",
    "simulate_month",
]

_G, _B, _P = DeploymentType.GLOBAL_STANDARD, DeploymentType.GLOBAL_BATCH, DeploymentType.GLOBAL_PROVISIONED


@dataclass(frozen=True, slots=True)
class UseCase:
    name: str
    app: str
    team: str
    agent: str | None
    deployment: str
    model: str
    model_version: str
    deployment_type: DeploymentType
    region: str
    tasks_per_weekday: int
    steps: tuple[int, int]  # typical min, max model calls per task
    input_tokens: tuple[int, int]
    output_tokens: tuple[int, int]
    cached_share: float  # share of input served from the prompt cache
    success: float  # probability a task succeeds
    loop_rate: float = 0.0  # probability an agent loops (many extra steps, then fails)
    rate_limit_rate: float = 0.02  # probability a call gets a 429 and is retried
    retrieval: bool = False
    embedding: bool = False
    reasoning_share: float = 0.0


@dataclass(frozen=True, slots=True)
class Waste:
    """Waste of a known size injected into one use case, each wasted event tagged with the lever that removes
    it (``attributes["waste"]``), or, when only some of its tokens are waste, with their number
    (``attributes["waste_context"]`` input tokens, ``attributes["waste_output"]`` output tokens).

    ``clean`` removes the simulation's own loops elsewhere and caches other use cases' prompts, so that only
    the injected waste remains; several of them (one per use case) may be injected at once.
    """

    use_case: str
    duplicates: float = 0.0  # a model call sent again, identical, after it succeeded
    loops: float = 0.0  # a task loops: 12–25 extra steps, then fails
    retries: float = 0.0  # a call times out after its prompt was billed, then is retried
    context: float = 0.0  # a call carries ``excess_context`` extra input tokens
    excess_context: int = 60_000
    output: float = 0.0  # a call runs on to its length limit, ``excess_output`` tokens too many
    excess_output: int = 6_000
    prefix: int = 0  # every call carries this stable prefix, never served from the prompt cache
    interactive: bool = False  # a batch use case runs on the interactive (global standard) deployment
    overpowered: float = 0.0  # this share of its tasks runs on gpt-4o (gpt-4o-glbl) instead of its own model
    clean: bool = True  # elsewhere: no loops, and prompts cached as well as they can be
    retrieval: float = 0.0  # a task's retriever returns ``excess_retrieval`` more tokens each time; it fails
    excess_retrieval: int = 30_000
    telemetry: int = 0  # KB of verbose traces (prompts and answers logged) per model call, on top of the
    # spans' own (see demo.simulated_telemetry)


#: The demo's use cases. ``doc-qa`` is the wasteful one.
USE_CASES: tuple[UseCase, ...] = (
    UseCase(
        "case-summary",
        "support-copilot",
        "customer-care",
        None,
        "gpt-4o-mini-glbl",
        "gpt-4o-mini",
        "2024-07-18",
        _G,
        "eastus2",
        260,
        (1, 2),
        (2500, 6000),
        (250, 600),
        0.35,
        0.93,
    ),
    UseCase(
        "reply-draft",
        "support-copilot",
        "customer-care",
        None,
        "gpt-4o-glbl",
        "gpt-4o",
        "2024-11-20",
        _G,
        "eastus2",
        180,
        (1, 3),
        (1800, 4000),
        (300, 700),
        0.55,
        0.88,
    ),
    UseCase(
        "claim-triage",
        "claims-agent",
        "claims-platform",
        "triage-agent",
        "gpt-4.1-ptu",
        "gpt-4.1",
        "2025-04-14",
        _P,
        "swedencentral",
        90,
        (3, 7),
        (3000, 8000),
        (200, 500),
        0.2,
        0.82,
        loop_rate=0.06,
        retrieval=True,
    ),
    UseCase(
        "lead-research",
        "sales-assistant",
        "revenue-ops",
        "research-agent",
        "gpt-4.1-mini-glbl",
        "gpt-4.1-mini",
        "2025-04-14",
        _G,
        "westeurope",
        70,
        (2, 5),
        (2000, 5000),
        (300, 900),
        0.0,
        0.8,
        loop_rate=0.03,
        retrieval=True,
        embedding=True,
    ),
    UseCase(
        "doc-qa",
        "doc-search",
        "knowledge",
        None,
        "o3-glbl",
        "o3",
        "2025-04-16",
        _G,
        "eastus2",
        120,
        (1, 2),
        (28000, 60000),
        (800, 3000),
        0.0,
        0.55,
        rate_limit_rate=0.18,
        retrieval=True,
        reasoning_share=0.6,
    ),
    UseCase(
        "invoice-extraction",
        "finance-batch",
        "finance-it",
        None,
        "gpt-4o-mini-batch",
        "gpt-4o-mini",
        "2024-07-18",
        _B,
        "eastus2",
        150,
        (1, 1),
        (1500, 3000),
        (200, 400),
        0.0,
        0.97,
        rate_limit_rate=0.0,
    ),
)

_TENANTS = (
    ("contoso", "CC-1001"),
    ("fabrikam", "CC-1002"),
    ("northwind", "CC-2001"),
    ("tailspin", "CC-2002"),
    ("woodgrove", "CC-3001"),
)
_TENANT_WEIGHTS = (0.34, 0.25, 0.18, 0.13, 0.10)
_HOUR_WEIGHTS = tuple(0.15 if h < 7 or h > 19 else (1.0 if 9 <= h <= 16 else 0.5) for h in range(24))


#: The simulated company's Azure subscription and resource group (ids as Azure reports them, lower-cased).
SUBSCRIPTION = "7d3a3c1e-5b6f-4a51-9c0e-2f4d8e6a1b90"
RESOURCE_GROUP = "rg-genai-prod"


def arm_id(provider: str, name: str) -> str:
    """A lower-cased ARM resource id in the simulated resource group."""
    return (
        f"/subscriptions/{SUBSCRIPTION}/resourcegroups/{RESOURCE_GROUP}/providers/{provider}/{name}".lower()
    )


def aoai_account(region: str, *, provisioned: bool = False) -> str:
    """The Azure OpenAI account serving ``region`` (provisioned throughput has its own account)."""
    return arm_id(
        "Microsoft.CognitiveServices/accounts", f"aoai-genai-{region}{'-ptu' if provisioned else ''}"
    )


def _account(uc: UseCase) -> str:
    return aoai_account(uc.region, provisioned=uc.deployment_type.is_provisioned)


@dataclass(frozen=True, slots=True)
class SimulatedTask:
    events: tuple[UsageEvent, ...]
    outcome: TaskOutcome | None  # None: still open at the end of the month


def _pick_tenant(rng: random.Random) -> tuple[str, str]:
    return rng.choices(_TENANTS, weights=_TENANT_WEIGHTS)[0]


def _start(rng: random.Random, day: dt.date) -> dt.datetime:
    hour = rng.choices(range(24), weights=_HOUR_WEIGHTS)[0]
    return dt.datetime(
        day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60), tzinfo=dt.UTC
    )


def _request_hash(*parts: object) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:32]


class _TaskBuilder:
    def __init__(
        self, rng: random.Random, uc: UseCase, task_id: str, ts: dt.datetime, wastes: tuple[Waste, ...] = ()
    ) -> None:
        self.rng, self.uc, self.task_id, self.ts = rng, uc, task_id, ts
        self.waste = next((w for w in wastes if w.use_case == uc.name), None)
        self.clean = any(w.clean for w in wastes)
        self.tag: str | None = None  # the waste every event added now belongs to (a loop's extra steps)
        self.cached_share = uc.cached_share
        self.deployment, self.deployment_type = uc.deployment, uc.deployment_type
        self.model, self.model_version = uc.model, uc.model_version
        if self.waste is not None and self.waste.overpowered and rng.random() < self.waste.overpowered:
            self.deployment, self.model, self.model_version = "gpt-4o-glbl", "gpt-4o", "2024-11-20"
        if self.waste is not None and self.waste.interactive and uc.deployment_type is _B:
            self.deployment, self.deployment_type = uc.deployment.replace("-batch", "-glbl"), _G
        share = self.waste.retrieval if self.waste is not None and uc.retrieval else 0.0  # over-retrieving
        self.over_retrieval = self.waste.excess_retrieval if share and rng.random() < share else 0  # type: ignore[union-attr]
        if not (self.over_retrieval or self.clean) and falls_back(uc.name, task_id):
            self.over_retrieval = FALLBACK_TOKENS
        if self.waste is not None and self.waste.prefix:
            self.cached_share = 0.0
        elif self.waste is None and self.clean:
            self.cached_share = max(uc.cached_share, 0.5)
        tenant, cost_center = _pick_tenant(rng)
        self.dims: dict[str, Any] = {
            "app": uc.app,
            "use_case": uc.name,
            "agent": uc.agent,
            "tenant": tenant,
            "cost_center": cost_center,
            "team": uc.team,
            "environment": "prod",
            "user_group": rng.choice(("agents", "supervisors", "analysts")),
        }
        self.events: list[UsageEvent] = []

    def _next_ts(self, ms: int) -> dt.datetime:
        self.ts += dt.timedelta(milliseconds=ms + self.rng.randrange(50, 400))
        return self.ts

    def add(
        self, step: int, attempt: int, kind: EventKind, status: EventStatus = EventStatus.OK, **kw: Any
    ) -> None:
        latency = int(kw.pop("latency_ms", self.rng.randrange(300, 4000)))
        suffix = kw.pop("suffix", "")
        tag = kw.pop("waste", None) or self.tag
        if tag is not None:
            kw["attributes"] = {"waste": tag, **kw.pop("attributes", {})}
        self.events.append(
            UsageEvent(
                event_id=f"{self.task_id}-s{step}-a{attempt}-{kind.value}{suffix}",
                ts=self._next_ts(latency),
                task_id=self.task_id,
                step=step,
                attempt=attempt,
                kind=kind,
                status=status,
                latency_ms=latency,
                region=self.uc.region,
                **self.dims,
                **kw,
            )
        )

    def model_call(self, step: int) -> None:
        uc, rng = self.uc, self.rng
        attempt = 1
        while rng.random() < uc.rate_limit_rate and attempt < 4:  # 429, then a retry
            self.add(
                step,
                attempt,
                EventKind.CHAT,
                EventStatus.RATE_LIMITED,
                deployment=self.deployment,
                model=self.model,
                model_version=self.model_version,
                deployment_type=self.deployment_type,
                resource_id=_account(uc),
                latency_ms=rng.randrange(20, 120),
            )
            attempt += 1
        inp = rng.randint(*uc.input_tokens) + step * rng.randint(200, 900)  # context grows with each step
        out = rng.randint(*uc.output_tokens)
        call: dict[str, Any] = {
            "deployment": self.deployment,
            "model": self.model,
            "model_version": self.model_version,
            "deployment_type": self.deployment_type,
            "resource_id": _account(uc),
            "input_tokens": inp,
            "cached_input_tokens": int(inp * self.cached_share * rng.uniform(0.6, 1.0)) // 128 * 128,
            "output_tokens": out,
            "reasoning_tokens": int(out * uc.reasoning_share),
            "request_hash": _request_hash(self.task_id, step),
            "finish_reason": "stop",
        }
        if self.over_retrieval:  # the passages the retriever returned too many are in the prompt
            call["input_tokens"] += self.over_retrieval
            call["attributes"] = {"waste_retrieval": str(self.over_retrieval)}
        if self.waste is not None:
            attempt = self._wasted(step, attempt, call)
        self.add(step, attempt, EventKind.CHAT, **call)
        if self.waste is not None and rng.random() < self.waste.duplicates:
            self.add(step, attempt, EventKind.CHAT, suffix="-repeat", waste="requests", **call)

    def _wasted(self, step: int, attempt: int, call: dict[str, Any]) -> int:
        """Inject this use case's waste into one model call; returns the attempt of the call that succeeds."""
        waste, rng = self.waste, self.rng
        assert waste is not None
        if rng.random() < waste.retries:  # billed prompt, no answer: a timeout, then the retry
            timed_out = {**call, "output_tokens": 0, "reasoning_tokens": 0, "finish_reason": None}
            self.add(step, attempt, EventKind.CHAT, EventStatus.TIMEOUT, waste="retries", **timed_out)
            attempt += 1
        if rng.random() < waste.context:
            call["input_tokens"] += waste.excess_context
            call["attributes"] = {**call.get("attributes", {}), "waste_context": str(waste.excess_context)}
        if self.model != self.uc.model:
            call["attributes"] = {**call.get("attributes", {}), "waste_model": self.uc.model_version}
        if self.deployment_type is not self.uc.deployment_type:
            call["attributes"] = {**call.get("attributes", {}), "waste_batch": self.uc.deployment_type.value}
        if waste.prefix:
            call["input_tokens"] += waste.prefix
            call["attributes"] = {**call.get("attributes", {}), "waste_prefix": str(waste.prefix)}
        if rng.random() < waste.output:
            call["output_tokens"] += waste.excess_output
            call["reasoning_tokens"] = int(call["output_tokens"] * self.uc.reasoning_share)
            call["finish_reason"] = "length"
            call["attributes"] = {**call.get("attributes", {}), "waste_output": str(waste.excess_output)}
        return attempt

    def support_calls(self, step: int) -> None:
        if self.uc.embedding:
            self.add(
                step,
                1,
                EventKind.EMBEDDING,
                deployment="text-embedding-3-small-glbl",
                model="text-embedding-3-small",
                deployment_type=_G,
                resource_id=_account(self.uc),
                input_tokens=self.rng.randint(20, 80),
                latency_ms=self.rng.randrange(30, 150),
            )
        if self.uc.retrieval:
            over = str(self.over_retrieval)
            self.add(
                step,
                1,
                EventKind.RETRIEVAL,
                tool_name="ai-search",
                requests=1,
                latency_ms=self.rng.randrange(40, 300),
                retrieved_tokens=returned_tokens(self.uc.name, self.task_id, step) + self.over_retrieval,
                attributes={"waste_retrieval": over} if self.over_retrieval else {},
            )


def _build_task(
    rng: random.Random,
    uc: UseCase,
    task_id: str,
    start: dt.datetime,
    month_end: dt.datetime,
    wastes: tuple[Waste, ...] = (),
) -> SimulatedTask:
    b = _TaskBuilder(rng, uc, task_id, start, wastes)
    loop_rate = uc.loop_rate
    if b.waste is not None:
        loop_rate = b.waste.loops if b.waste.loops or b.waste.clean else loop_rate
    elif b.clean:
        loop_rate = 0.0
    looping = rng.random() < loop_rate
    base = rng.randint(*uc.steps)
    steps = base + (rng.randint(12, 25) if looping else 0)
    for step in range(steps):
        if b.waste is not None and looping and step == base:
            b.tag = "loops"
        b.support_calls(step)
        b.model_call(step)
        if uc.agent and not looping and rng.random() < 0.3:
            b.add(
                step,
                1,
                EventKind.TOOL,
                tool_name=rng.choice(("crm.lookup", "policy.search", "web.fetch")),
                requests=1,
                latency_ms=rng.randrange(50, 900),
            )
    ended = b.ts + dt.timedelta(seconds=rng.randrange(1, 30))
    if ended >= month_end - dt.timedelta(minutes=20) and rng.random() < 0.5:
        return SimulatedTask(tuple(b.events), None)  # still open when the month closes
    if looping:
        outcome = Outcome.FAILED
    elif rng.random() < uc.success:
        outcome = Outcome.SUCCEEDED
    else:
        outcome = rng.choices((Outcome.FAILED, Outcome.ABANDONED, Outcome.ESCALATED), weights=(4, 4, 2))[0]
    minutes_saved = rng.randint(3, 15) if outcome is Outcome.SUCCEEDED else None
    if b.over_retrieval:  # a prompt drowned in passages fails (decided after the draws: the stream stays)
        outcome, minutes_saved = Outcome.FAILED, None
    return SimulatedTask(
        tuple(b.events),
        TaskOutcome(
            task_id=task_id,
            outcome=outcome,
            ended_at=ended,
            use_case=uc.name,
            tenant=b.dims["tenant"],
            value_quantity=None if minutes_saved is None else Decimal(minutes_saved),
            value_unit=None if minutes_saved is None else "minutes_saved",
        ),
    )


def simulate_month(
    year: int,
    month: int,
    *,
    seed: int = 42,
    scale: float = 1.0,
    waste: Waste | Sequence[Waste] | None = None,
) -> Iterator[SimulatedTask]:
    """Yield the tasks of one calendar month (UTC), in day order. ``scale`` multiplies the task volume;
    ``waste`` injects waste of a known size (and, when ``clean``, removes the simulation's own loops)."""
    rng = random.Random(seed)
    wastes = () if waste is None else (waste,) if isinstance(waste, Waste) else tuple(waste)
    first = dt.date(year, month, 1)
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    month_end = dt.datetime(nxt.year, nxt.month, 1, tzinfo=dt.UTC)
    day = first
    while day < nxt:
        weekend = day.weekday() >= 5
        for uc in USE_CASES:
            base = uc.tasks_per_weekday * (0.25 if weekend else 1.0) * scale
            if uc.deployment_type is _B:
                base = uc.tasks_per_weekday * scale  # batch runs nightly, weekends included
            for n in range(max(0, round(rng.gauss(base, base * 0.12)))):
                task_id = f"{uc.name}-{day:%Y%m%d}-{n:05d}"
                yield _build_task(rng, uc, task_id, _start(rng, day), month_end, wastes)
        day += dt.timedelta(days=1)
