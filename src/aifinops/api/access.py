"""Whether the API asks for keys: open only on loopback while no key has ever existed, closed for good after.

The open mode is for a first look on a laptop. It ends, for the life of the process and of the database, as
soon as one key has been created (revoking every key later closes the API to everyone instead of opening it),
and it never starts on a non-loopback bind. While open, a request from an address that is not loopback (a
process manager bound to 0.0.0.0, a proxy on another host) is refused all the same.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable

__all__ = ["Access", "is_loopback", "local_client"]


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (an address or ``localhost``) is a loopback address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def local_client(host: str | None) -> bool:
    """Whether a request from ``host`` may be served without a key in the open mode: a loopback address, or
    no IP address at all (a unix socket or an in-process transport)."""
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return True


class Access:
    """The access mode of one API process, asked on every request. ``created`` and ``active`` say whether any
    key was ever created and whether one is active (``functools.partial(key_queries.any_key_created, store)``
    and ``any_active_key``); they are asked at most every ``ttl`` seconds (a key created while open closes the
    API within that time)."""

    def __init__(
        self, *, created: Callable[[], bool], active: Callable[[], bool], loopback: bool, ttl: float = 5.0
    ) -> None:
        self._created, self._active_now, self._ttl = created, active, ttl
        self._closed = not loopback
        self._closed_at = self._active_at = -float("inf")
        self._active = False

    def closed(self) -> bool:
        """Whether every request needs an active key (once True, True for the life of the process)."""
        if not self._closed:
            now = time.monotonic()
            if now - self._closed_at >= self._ttl:
                if self._created():  # only ever set to True: a stale answer in another thread never reopens
                    self._closed = True
                self._closed_at = now
        return self._closed

    def any_active(self) -> bool:
        """Whether some key is active (asked only to word a refusal)."""
        now = time.monotonic()
        if now - self._active_at >= self._ttl:
            self._active, self._active_at = self._active_now(), now
        return self._active
