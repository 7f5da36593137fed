"""`aifinops gateway`: serve the OpenAI / Azure OpenAI-compatible gateway with uvicorn."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from aifinops.cli.signals import graceful_sigterm
from aifinops.config import load_settings
from aifinops.errors import AifinopsError
from aifinops.gateway.build import build_gateway

__all__ = ["gateway"]


def gateway(
    config: Annotated[
        str | None, typer.Option("--config", help="gateway YAML (upstreams, deployments)")
    ] = None,
    policies: Annotated[str | None, typer.Option("--policies", help="limit policies YAML")] = None,
    host: Annotated[str | None, typer.Option(help="bind address (default: settings gateway.host)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default: settings gateway.port)")] = None,
) -> None:
    """Serve the OpenAI / Azure OpenAI-compatible gateway (metering and limits)."""
    import uvicorn

    try:
        settings = load_settings()
        app = build_gateway(settings, config_file=config, policies_file=policies)
    except AifinopsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    started = time.monotonic()
    # SIGTERM: the calls in flight finish, the recorder and its spool are drained, exit code 0.
    with graceful_sigterm():
        uvicorn.run(
            app,
            host=host or settings.gateway.host,
            port=port or settings.gateway.port,
            loop="auto",
            http="auto",
            lifespan="on",
            access_log=False,  # per-request logging costs more CPU than the proxying itself
            log_level="warning",
        )
    typer.echo(f"gateway stopped after {time.monotonic() - started:.0f} s", err=True)
