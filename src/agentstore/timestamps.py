"""Timestamps: timezone-aware UTC datetimes with microsecond precision (pure, no I/O).

Other writers (the seed library, with Go's nanosecond clock) write times to the
nanosecond. An event read from them keeps the nanoseconds beyond its datetime's
microsecond as a number from 0 to 999 beside it (:func:`parse`), and writes them back
(:func:`to_text`), so a copy or a re-serialization keeps the exact time.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from agentstore.errors import InvalidArgumentError

__all__ = ["UNSET", "check", "epoch_nanoseconds", "from_text", "now", "parse", "to_text"]

UTC = UTC
UNSET = datetime(1, 1, 1, tzinfo=UTC)
"""The zero time (the seed library's): an event's timestamp before it is appended."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# The digits of a fraction beyond its sixth: the seed's nanoseconds (RFC 3339 allows more
# digits; none beyond the ninth is kept). Dates and offsets hold no "." or ",".
_BEYOND_MICROSECONDS = re.compile(r"[.,]\d{6}(\d{1,3})")


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


def to_text(value: datetime, nanoseconds: int = 0) -> str:
    """Return the RFC 3339 form of an aware UTC datetime: ``2026-11-26T04:30:29.258028Z``.

    Args:
        value: the time.
        nanoseconds: the nanoseconds beyond ``value``'s microsecond (0-999). When not 0,
            the fraction has up to nine digits, trailing zeros cut as Go's RFC 3339 times
            have them: ``2026-11-26T04:30:29.25802872Z``, so a line the Go library wrote
            is written back as it was.
    """
    if nanoseconds:
        digits = f"{value.microsecond:06d}{nanoseconds:03d}".rstrip("0")
        return f"{value.isoformat(timespec='seconds')[:-6]}.{digits}Z"
    return value.isoformat()[:-6] + "Z"  # isoformat is twice as fast as strftime


def from_text(text: str) -> datetime:
    """Parse an RFC 3339 timestamp; digits beyond microseconds are cut (:func:`parse` keeps them).

    Raises:
        ValueError: ``text`` is not an RFC 3339 timestamp with a time zone.
    """
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def parse(text: str) -> tuple[datetime, int]:
    """Parse an RFC 3339 timestamp into its datetime and the nanoseconds beyond it (0-999).

    Raises:
        ValueError: ``text`` is not an RFC 3339 timestamp with a time zone.
    """
    value = from_text(text)
    if text[-8:-7] == "." and text[-1:] == "Z":
        return value, 0  # six digits, as this library writes: none beyond (a read's hot path)
    beyond = _BEYOND_MICROSECONDS.search(text)
    return value, 0 if beyond is None else int(beyond.group(1).ljust(3, "0"))


def epoch_nanoseconds(value: datetime, nanoseconds: int = 0) -> int:
    """Nanoseconds since the Unix epoch of ``value`` and the nanoseconds beyond it."""
    return (value - _EPOCH) // _MICROSECOND * 1000 + nanoseconds
