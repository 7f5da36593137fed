"""An ASGI factory for process managers (``uvicorn --factory aifinops.api.factory:app_from_env``)."""

from __future__ import annotations

from fastapi import FastAPI

from aifinops.api.app import create_app
from aifinops.config import load_settings

__all__ = ["app_from_env"]


def app_from_env() -> FastAPI:
    """The API configured from the environment / aifinops.yaml, refusing an out-of-date schema."""
    return create_app(load_settings())
