"""Tokens: each consumer weighs its input + output tokens.

Cached input is part of input and reasoning part of output, so they are not added again.
"""

from __future__ import annotations

from aifinops.engine.drivers.kind import DriverKind, UsageSum, total_per_consumer

__all__ = ["TOKENS", "TOKEN_COUNT"]

TOKEN_COUNT = UsageSum("tokens", ("input_tokens", "output_tokens"))
TOKENS = DriverKind("tokens", (TOKEN_COUNT,), total_per_consumer)
