"""SIGTERM as orchestrators send it: a graceful stop that ends with exit code 0.

uvicorn catches SIGTERM, stops accepting, finishes the requests in flight and runs the application's
shutdown (the gateway drains its recorder and spool there), then raises the signal again under the handler
installed before it started. Under the default handler that second SIGTERM kills the process at once, before
the command's own clean-up (releasing the scheduled jobs' leases) could run; this handler only notes it.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["graceful_sigterm"]


@contextmanager
def graceful_sigterm() -> Iterator[list[int]]:
    """While inside, SIGTERM is noted (in the yielded list) instead of ending the process."""
    received: list[int] = []

    def note(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)

    previous = signal.signal(signal.SIGTERM, note)
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, previous)
