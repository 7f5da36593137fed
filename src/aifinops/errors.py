"""The one exception tree of aifinops.

AifinopsError
├── ConfigError          invalid setting: names the key, the value and the fix
├── ValidationError      bad input from a user or a file: names the field and the reason
├── NotFoundError        what a read asked for is not stored: names it and the command that makes it
│   └── PastRetentionError  the raw events it needs were dropped by retention: names the horizon
├── StoreError           the database failed or its schema is out of date
│   ├── StoreUnavailableError  unreachable, busy, a lock or deadlock: the same call may succeed later
│   ├── StoreDataError   the database refused a value (out of range, too long, a constraint): never succeeds
│   └── SchemaOutdatedError
├── PricingError         the price book cannot be built or used
├── SourceError          an outside system (Azure API, export file) failed
│   ├── SourceAuthError  401/403: names the scope and the role that is missing
│   └── SourceFormatError a payload or file we cannot read: names the file/field
├── AccessError          an API key is missing, unknown, revoked or lacks a scope
└── LimitExceeded        a gateway limit refused a call (raised only where a caller wants an exception)
"""

from __future__ import annotations

__all__ = [
    "AccessError",
    "AifinopsError",
    "ConfigError",
    "LimitExceeded",
    "NotFoundError",
    "PastRetentionError",
    "PricingError",
    "SchemaOutdatedError",
    "SourceAuthError",
    "SourceError",
    "SourceFormatError",
    "StoreDataError",
    "StoreError",
    "StoreUnavailableError",
    "ValidationError",
]


class AifinopsError(Exception):
    """Base of every error aifinops raises on purpose."""


class ConfigError(AifinopsError):
    """A configuration value is invalid."""


class ValidationError(AifinopsError):
    """Input is invalid; ``field`` names where and ``reason`` says why (the message when not given)."""

    def __init__(self, message: str, *, field: str | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.reason = message if reason is None else reason


class NotFoundError(AifinopsError):
    """What was asked for is not stored; ``title`` names it in a few words (``No allocation``)."""

    def __init__(self, message: str, *, title: str = "Not found") -> None:
        super().__init__(message)
        self.title = title


class PastRetentionError(NotFoundError):
    """A read needs raw usage events from before the retention horizon, which were dropped."""

    def __init__(self, message: str) -> None:
        super().__init__(message, title="Past retention")


class StoreError(AifinopsError):
    """The store failed."""


class StoreUnavailableError(StoreError):
    """The database is unreachable or busy, or aborted the transaction (deadlock, serialization failure,
    lock timeout): the same call may succeed in ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StoreDataError(StoreError):
    """The database refused a value (out of range, too long, a NUL, a broken constraint): bad input that got
    past validation; sending it again never succeeds. ``reason`` is the database's word for it."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class SchemaOutdatedError(StoreError):
    """The database schema is behind the code; run `aifinops db upgrade`."""


class PricingError(AifinopsError):
    """The price book cannot be built or used."""


class SourceError(AifinopsError):
    """An outside source failed."""


class SourceAuthError(SourceError):
    """The source refused our identity."""


class SourceFormatError(SourceError):
    """A payload or file could not be read."""


class AccessError(AifinopsError):
    """An API key is missing, unknown, revoked, or lacks the scope."""


class LimitExceeded(AifinopsError):
    """A limit refused the call."""
