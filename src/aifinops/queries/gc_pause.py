"""The pause of Python's cyclic garbage collector around reading or building a month of allocation lines."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused_for_bulk_objects"]


@contextmanager
def gc_paused_for_bulk_objects() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a month of lines, drivers or rows is built or read.

    They are a million small tuples without reference cycles, and every few hundred of them the collector
    would walk all that were built before: it cost more than building them. Reference counting still frees
    everything; the collector runs again (and catches up) when the block ends. Pauses nest: only the
    outermost one switches the collector back on.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
