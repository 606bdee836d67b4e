"""Identifiers: event ids, session ids and event type names (pure, no I/O)."""

from __future__ import annotations

import itertools
import os
import re
import threading
import uuid

from agentstore.errors import InvalidSessionIdError

__all__ = ["new_event_id", "new_session_id", "validate_session_id"]

_SESSION_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_COUNTER_BITS = 48
# The counter runs from 2**48 to 2**49 so that hex() always gives 13 digits, the first
# a "1" to cut off: 0.12 µs, against 0.18 µs for a "012x" format.
_COUNTER_START = 1 << _COUNTER_BITS


def _random_prefix() -> str:
    # 74 random bits laid out as an RFC 9562 UUIDv8 (version 8, variant 10), leaving the
    # last 48 bits (the "node" field) to a per-process counter.
    bits = int.from_bytes(os.urandom(10), "big") >> 6  # 74 bits
    high = bits >> 26  # 48 bits
    mid = (bits >> 14) & 0xFFF  # 12 bits
    low = bits & 0x3FFF  # 14 bits
    return f"{high >> 16:08x}-{high & 0xFFFF:04x}-8{mid:03x}-{0x8000 | low:04x}-"


_prefix = _random_prefix()
_counter = itertools.count(_COUNTER_START)
_rollover_lock = threading.Lock()


def new_event_id() -> str:
    """Return a new UUID-shaped event id: a random per-process prefix and a counter.

    ``uuid.uuid4()`` reads the OS random source on every call (about 1.8 µs here, more than
    a whole in-memory append); a counter behind 74 random bits costs about 0.12 µs and
    stays unique across processes and hosts with overwhelming probability.
    """
    number = next(_counter)  # atomic under the GIL: no lock on the hot path
    if number >> (_COUNTER_BITS + 1):
        return _rollover()
    return _prefix + hex(number)[3:]


def _rollover() -> str:
    with _rollover_lock:
        if next(_counter) >> (_COUNTER_BITS + 1):
            _reseed()
    return new_event_id()


def _reseed() -> None:
    global _prefix, _counter
    _prefix = _random_prefix()
    _counter = itertools.count(_COUNTER_START)


# A forked child draws a new prefix so it never repeats its parent's ids.
os.register_at_fork(after_in_child=_reseed)


def new_session_id() -> str:
    """Return a fresh random session id (a UUID4 string, as the seed library makes)."""
    return str(uuid.uuid4())


def validate_session_id(session_id: object) -> str:
    """Return ``session_id`` if it is a valid session id, else raise InvalidSessionIdError.

    Session ids become file names in the JSONL backend, so they are 1-128 characters from
    ``A-Za-z0-9._-`` and may not start with ``.`` or ``-`` (no ``..``, no hidden files, no
    option-like names, no path separators).
    """
    if not isinstance(session_id, str):
        raise InvalidSessionIdError(f"session id must be a str, not {type(session_id).__name__}")
    if _SESSION_ID.fullmatch(session_id) is None:
        raise InvalidSessionIdError(_session_id_problem(session_id))
    return session_id


def _session_id_problem(session_id: str) -> str:
    shown = repr(session_id if len(session_id) <= 40 else session_id[:40] + "...")
    if not session_id:
        return "session id is empty"
    if len(session_id) > 128:
        return f"session id {shown} is {len(session_id)} characters long (at most 128)"
    if session_id[0] in ".-":
        return f"session id {shown} may not start with {session_id[0]!r}"
    bad = next(c for c in session_id if not (c.isascii() and (c.isalnum() or c in "._-")))
    return f"session id {shown} contains {bad!r} (allowed: A-Z a-z 0-9 . _ -)"
