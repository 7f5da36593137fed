"""The gateway's limit kinds, one module each, and the registry that decisions and policy files read.

A new kind is one module here (its :class:`~aifinops.engine.limit_kinds.kind.LimitKind` as ``KIND``), one row
in :data:`KINDS` and its test.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from aifinops.engine.limit_kinds import (
    budget,
    concurrency,
    context_tokens,
    deployment_allowlist,
    max_retries,
    max_steps,
    max_tokens,
    rpm,
    task_cost,
    tpm,
)
from aifinops.engine.limit_kinds.kind import LimitKind

__all__ = ["KINDS", "LimitKind"]

#: Every limit kind by name (the policy file's ``kind``, the refusal's ``code``).
KINDS: Mapping[str, LimitKind] = MappingProxyType(
    {
        kind.name: kind
        for kind in (
            deployment_allowlist.KIND,
            max_tokens.KIND,
            context_tokens.KIND,
            max_steps.KIND,
            max_retries.KIND,
            task_cost.KIND,
            concurrency.KIND,
            rpm.KIND,
            tpm.KIND,
            budget.KIND,
        )
    }
)
