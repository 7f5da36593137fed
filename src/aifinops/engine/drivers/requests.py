"""Requests: each consumer weighs the model and tool requests it made."""

from __future__ import annotations

from aifinops.engine.drivers.kind import DriverKind, UsageSum, total_per_consumer

__all__ = ["REQUESTS", "REQUEST_COUNT"]

REQUEST_COUNT = UsageSum("requests", ("requests",))
REQUESTS = DriverKind("requests", (REQUEST_COUNT,), total_per_consumer)
