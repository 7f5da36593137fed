"""What the simulated month's retrievals return into prompts, drawn from task ids, not the random stream (so
that adding them left every other figure of the month as it was).

A retrieval returns passages that the model call of its step sends as part of its input; doc-qa falls back to
a wide search when its first match is weak, and those tasks fail (the answer drowns in passages).
"""

from __future__ import annotations

import hashlib

__all__ = ["FALLBACK_TOKENS", "falls_back", "returned_tokens"]

#: Tokens one retrieval of a use case returns (lowest, highest); use cases not named retrieve nothing.
RETURNED = {"claim-triage": (1500, 3000), "lead-research": (800, 2000), "doc-qa": (12000, 24000)}
#: Share of a use case's tasks that fall back to a wide search, and what it returns more per retrieval.
FALLBACK = {"doc-qa": 0.10}
FALLBACK_TOKENS = 36_000  # top-k 24 instead of 8: three times the passages


def _draw(*parts: object) -> float:
    """A uniform number in [0, 1) from ``parts``."""
    return int(hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:8], 16) / 2**32


def returned_tokens(use_case: str, task_id: str, step: int) -> int:
    """What one retrieval of ``task_id`` at ``step`` returns.

    >>> 12000 <= returned_tokens("doc-qa", "doc-qa-20261001-00000", 0) <= 24000
    True
    """
    low, high = RETURNED.get(use_case, (0, 0))
    return low + int(_draw(task_id, step) * (high - low + 1))


def falls_back(use_case: str, task_id: str) -> bool:
    """Whether ``task_id``'s first match is weak and its retrievals fall back to a wide search."""
    return _draw(task_id, "fallback") < FALLBACK.get(use_case, 0.0)
