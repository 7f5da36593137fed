"""``deployment_allowlist``: the deployments (or v1 models) a call may use; others are refused (403)."""

from __future__ import annotations

from aifinops.engine.limit_kinds.kind import LimitKind
from aifinops.engine.limit_policies import CallFacts, Policy, Refusal, refuse

__all__ = ["KIND"]


def _check(
    facts: CallFacts, policy: Policy, scope: str, *, deployment: str, max_tokens: int | None
) -> Refusal | None:
    if deployment in policy.deployments:
        return None
    allowed = ", ".join(sorted(policy.deployments))
    return refuse(policy, scope, deployment, f"one of [{allowed}]", what="deployment", verb="refused")


KIND = LimitKind("deployment_allowlist", check=_check, deployments=True)
