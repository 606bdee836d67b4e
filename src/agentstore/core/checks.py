"""The arguments of the store's operations, checked (pure, no I/O).

Both faces of the store, :class:`agentstore.Store` and :class:`agentstore.aio.AsyncStore`,
check their arguments here before any I/O, so both raise the same errors for the same input.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from agentstore.errors import InvalidArgumentError, InvalidEventError
from agentstore.events import EventType, type_name
from agentstore.ids import new_session_id, validate_session_id
from agentstore.sessions import Session, check_labels, check_name

__all__ = [
    "KnownIds",
    "check_at_seq",
    "check_count",
    "check_timeout",
    "check_types",
    "new_session",
    "page",
    "watch_start",
]

_KNOWN_IDS_LIMIT = 65536


class KnownIds:
    """Session ids already found valid: the regex is a once-per-session cost."""

    __slots__ = ("known",)

    def __init__(self) -> None:
        self.known: set[str] = set()  # read directly by the append hot paths

    def check(self, session_id: str) -> str:
        """Return ``session_id`` if valid, else raise InvalidSessionIdError."""
        try:
            if session_id in self.known:
                return session_id
        except TypeError:
            pass
        validate_session_id(session_id)
        if len(self.known) >= _KNOWN_IDS_LIMIT:
            self.known.clear()
        self.known.add(session_id)
        return session_id


def check_count(value: Any, name: str) -> int:
    """Return ``value`` if it is a non-negative int, else raise InvalidArgumentError."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return int(value)
    raise InvalidArgumentError(f"{name} must be a non-negative int, not {value!r}")


def check_timeout(timeout: object) -> float | None:
    """Return a watch's timeout in seconds (None: never), or raise InvalidArgumentError."""
    if timeout is None:
        return None
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout >= 0:
        # Longer than the platform's lock timeouts is as good as never.
        return None if timeout > threading.TIMEOUT_MAX else float(timeout)
    raise InvalidArgumentError(f"timeout must be None or >= 0 seconds, not {timeout!r}")


def check_types(
    types: Iterable[EventType | str] | EventType | str | None,
) -> frozenset[str] | None:
    """Return the type names to keep (None: all), or raise InvalidArgumentError."""
    if types is None:
        return None
    if isinstance(types, str):
        types = [types]
    try:
        return frozenset(type_name(name) for name in types)
    except InvalidEventError as error:
        raise InvalidArgumentError(f"types: {error.reason}") from None
    except TypeError:
        raise InvalidArgumentError(
            f"types must be an iterable of type names, not {type(types).__name__}"
        ) from None


def new_session(id: str | None, name: str, labels: Mapping[str, str] | None) -> Session:
    """The session ``create_session`` makes, its arguments checked."""
    session_id = new_session_id() if id is None else validate_session_id(id)
    return Session(id=session_id, name=check_name(name), labels=check_labels(labels))


def page(
    limit: int | None, offset: int, labels: Mapping[str, str] | None
) -> tuple[int, int, Mapping[str, str] | None]:
    """The checked ``limit`` (None: all), ``offset`` and ``labels`` of ``list_sessions``."""
    start = min(check_count(offset, "offset"), sys.maxsize)
    most = sys.maxsize if limit is None else check_count(limit, "limit")
    size = min(most, sys.maxsize - start)  # any limit: all
    return size, start, check_labels(labels) or None


def check_at_seq(session_id: str, at_seq: object, last: int) -> int:
    """Return ``at_seq`` if it is a seq of the session (0..last), else raise."""
    target = check_count(at_seq, "at_seq")
    if target > last:
        raise InvalidArgumentError(
            f"at_seq {target} is past the last event of session {session_id!r} ({last})"
        )
    return target


def watch_start(session_id: str | None, from_seq: object) -> int:
    """The first seq a watch yields (0 for a watch of all sessions)."""
    start = check_count(from_seq, "from_seq")
    if session_id is None:
        if start:
            raise InvalidArgumentError("from_seq needs a session id")
        return 0
    return max(start, 1)
