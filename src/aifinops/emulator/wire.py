"""JSON and error bodies shaped as Azure sends them (compact JSON, ARM error envelope)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from starlette.responses import Response

__all__ = ["arm_error", "json_response"]


def _encode(value: Any) -> Any:
    # Azure serialises amounts as JSON doubles; the emulator does the same so clients face real rounding.
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A compact JSON response, byte for byte what ``json.dumps(..., separators=(',', ':'))`` gives."""
    body = json.dumps(payload, separators=(",", ":"), default=_encode, ensure_ascii=False)
    return Response(body, status_code=status, headers=headers, media_type="application/json; charset=utf-8")


def arm_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """The ARM error envelope ``{"error": {"code", "message"}}`` (reference/cost-management.md §2.7)."""
    return json_response({"error": {"code": code, "message": message}}, status, headers)
