"""Reads derived from stored data, kept in the process beside the version of the data they came from.

A read that is costly and whose inputs carry a version (the built days of the optimizer's call groups: each
day's event count and build time) is kept under its arguments with that version; it is served again only
while the stored version is still the same, so it is never older than the store. Bounded: the least
recently used entry goes first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["DerivedReads"]


class DerivedReads:
    """A small thread-safe LRU of ``key → (version, value)``."""

    def __init__(self, max_entries: int = 16) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[Hashable, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def read(self, key: Hashable, version: Callable[[], Hashable], compute: Callable[[], Any]) -> Any:
        """The value of ``key`` at the stored ``version()``: kept when the version is the one it was computed
        at, else ``compute()``d and kept — only when the version read before and after computing agree, so
        that a value computed while the data changed is never kept under either version."""
        before = version()
        with self._lock:
            kept = self._entries.get(key)
            if kept is not None and kept[0] == before:
                self._entries.move_to_end(key)
                return kept[1]
        value = compute()
        if version() == before:
            with self._lock:
                self._entries[key] = (before, value)
                self._entries.move_to_end(key)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
