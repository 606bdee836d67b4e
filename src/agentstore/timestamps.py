"""Timestamps: timezone-aware UTC datetimes with microsecond precision (pure, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

from agentstore.errors import InvalidArgumentError

__all__ = ["UNSET", "check", "from_text", "now", "to_text"]

UTC = UTC
UNSET = datetime(1, 1, 1, tzinfo=UTC)
"""The zero time (the seed library's): an event's timestamp before it is appended."""


def now() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def check(value: object, *, name: str = "timestamp") -> datetime:
    """Return ``value`` as an aware UTC datetime, or raise InvalidArgumentError.

    Naive datetimes are refused rather than guessed: a wrong guess would silently shift
    a session's timeline by hours.
    """
    if not isinstance(value, datetime):
        raise InvalidArgumentError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidArgumentError(f"{name} must be timezone-aware, got naive {value}")
    return value.astimezone(UTC)


def to_text(value: datetime) -> str:
    """Return the RFC 3339 form of an aware UTC datetime: ``2026-11-26T04:30:29.258028Z``."""
    return value.isoformat()[:-6] + "Z"  # isoformat is twice as fast as strftime


def from_text(text: str) -> datetime:
    """Parse an RFC 3339 timestamp; digits beyond microseconds (the seed's nanoseconds) are cut.

    Raises:
        ValueError: ``text`` is not an RFC 3339 timestamp with a time zone.
    """
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return value if value.tzinfo is UTC else value.astimezone(UTC)
