"""The ``aifinops`` command line: one Typer app; our errors become ``error: …`` lines and exit code 2."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import typer

from aifinops.cli import core, demo

__all__ = ["app", "main"]

app = typer.Typer(
    name="aifinops",
    help="AI FinOps for Azure OpenAI and Microsoft Foundry: what did one successful task cost, and why?",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _optional(module: str, attr: str) -> Any:
    """Commands whose modules need optional parts are wired when those parts import."""
    try:
        mod = __import__(f"aifinops.cli.{module}", fromlist=[attr])
    except ModuleNotFoundError as exc:  # pragma: no cover - a partial install
        if not (exc.name or "").startswith("aifinops"):
            raise
        return None
    return getattr(mod, attr, None)


def _wire() -> None:
    core.register(app)
    app.command("demo")(demo.demo)
    for module, attr, name in (
        ("prices", "app", "prices"),
        ("report", "app", "report"),
        ("budgets", "app", "budgets"),
    ):
        sub = _optional(module, attr)
        if sub is not None:
            app.add_typer(sub, name=name)
    for module, attr in (
        ("collect", "collect"),
        ("gateway", "gateway"),
        ("export", "export"),
        ("discover", "discover"),
        ("review", "review"),
        ("recommend", "recommend"),
        ("recommend", "whatif"),
    ):
        command: Callable[..., Any] | None = _optional(module, attr)
        if command is not None:
            app.command(name=attr)(command)


_wire()


def main() -> None:
    """Entry point: run the app, printing our errors without a traceback unless --debug is given."""
    debug = "--debug" in sys.argv
    if debug:
        sys.argv.remove("--debug")
    try:
        app(standalone_mode=True)
    except SystemExit:
        raise
    except Exception as exc:
        from aifinops.errors import AifinopsError

        if debug or not isinstance(exc, AifinopsError):
            raise
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
