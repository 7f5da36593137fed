"""GET /healthz and /readyz: probes for orchestrators (Kubernetes, Azure Container Apps, compose).

``/healthz`` answers while the process serves HTTP. ``/readyz`` answers 200 only when this replica can do its
work: the database answers, its schema is the one the code expects, and Redis answers when one is configured;
otherwise 503 with a problem document naming each failing check and its reason. Neither needs a key, so
neither shows an address or a driver message (those go to the log).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from aifinops import __version__
from aifinops.api.problems import ProblemError
from aifinops.store import Store

__all__ = ["ReadinessChecks", "router"]

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str = Field(description="the aifinops version this process runs")


class Readiness(BaseModel):
    status: Literal["ready"] = "ready"
    checks: dict[str, str] = Field(
        description="each check (store, schema, redis) and its state: ok, or `not configured`"
    )


class ReadinessChecks:
    """The checks of one process; the expected migration heads are read once (they are the code's)."""

    def __init__(self, store: Store, redis_url: str | None, *, timeout: float = 2.0) -> None:
        self.store = store
        self.expected: set[str] | None = None
        self._redis: Callable[[], object] | None = None
        if redis_url:
            import redis

            client = redis.Redis.from_url(redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)
            self._redis = client.ping

    def run(self) -> tuple[dict[str, str], dict[str, str]]:
        """(passed checks, failed checks with their reason)."""
        passed: dict[str, str] = {}
        failed: dict[str, str] = {}
        try:
            current = self.store.current_heads()  # a query: the database answers, or this raises
        except Exception as exc:
            log.warning("readiness: the database does not answer: %s", exc)
            failed["store"] = f"database unreachable ({type(exc).__name__}); the server log has the details"
        else:
            passed["store"] = "ok"
            if self.expected is None:
                self.expected = self.store.expected_heads()
            if current == self.expected:
                passed["schema"] = "ok"
            else:
                failed["schema"] = (
                    f"schema is {sorted(current) or 'empty'}, code expects {sorted(self.expected)}: run "
                    "`aifinops db upgrade`"
                )
        if self._redis is None:
            passed["redis"] = "not configured"
        else:
            try:
                self._redis()
                passed["redis"] = "ok"
            except Exception as exc:
                log.warning("readiness: Redis does not answer: %s", exc)
                failed["redis"] = f"redis unreachable ({type(exc).__name__}); the server log has the details"
        return passed, failed


@router.get("/healthz", summary="Liveness: the process serves HTTP", response_model=Health)
async def healthz() -> Health:
    """200 while the process is up; it checks nothing else (a restart would not cure a database outage)."""
    return Health(version=__version__)


@router.get(
    "/readyz",
    summary="Readiness: the database, its schema and Redis (when configured) answer",
    response_model=Readiness,
)
async def readyz(request: Request) -> Readiness:
    """200 when this replica can serve; 503 with each failing check and its reason otherwise (take it out of
    the load balancer, do not restart it)."""
    checks: ReadinessChecks = request.app.state.readiness
    started = time.monotonic()
    passed, failed = await run_in_threadpool(checks.run)
    if failed:
        raise ProblemError(
            503,
            "Not ready",
            "; ".join(f"{name}: {reason}" for name, reason in failed.items()),
            errors=[{"field": name, "reason": reason} for name, reason in failed.items()],
            checked_in_ms=round((time.monotonic() - started) * 1000, 1),
        )
    return Readiness(checks=passed)
