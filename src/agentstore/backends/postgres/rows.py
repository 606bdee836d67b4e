"""What the PostgreSQL backends' SQL takes and gives back (pure, no I/O).

Shared by the sync backend and the async one, so both send the same values to the same
statements (:mod:`agentstore.backends.postgres.sql`) and read the answers alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from agentstore.backends.rows import event_from_row, event_values, json_text
from agentstore.core import sequencing
from agentstore.errors import ConcurrencyError, SessionNotFoundError
from agentstore.events import Event
from agentstore.sessions import Session
from agentstore.state import Snapshot

__all__ = [
    "MAX_SEQ",
    "append_error",
    "append_values",
    "appended",
    "event_from_pg_row",
    "insert_values",
    "read_values",
    "session_values",
    "snapshot_values",
]

MAX_SEQ = 2**31 - 1  # seqs are integer columns: larger bounds mean "all"


def session_values(session: Session, history: Sequence[Event]) -> tuple[Any, ...]:
    """The values of CREATE_SESSION for a session with ``history``."""
    return (
        session.id,
        session.name,
        json_text(dict(session.labels)),
        session.created_at,
        session.parent_id,
        session.forked_at_seq,
        history[-1].seq if history else 0,
        history[-1].timestamp if history else None,
    )


def insert_values(events: Sequence[Event]) -> list[tuple[Any, ...]]:
    """The rows of INSERT_EVENTS for stamped events."""
    return [
        (event.session_id, event.seq, *values[:3], event.timestamp, values[3], event._nanos)
        for event in events
        for values in (event_values(event),)
    ]


def snapshot_values(snapshot: Snapshot) -> tuple[Any, ...]:
    """The values of WRITE_SNAPSHOT."""
    return (
        snapshot.session_id,
        snapshot.version,
        snapshot.reducer,
        json_text(snapshot.state.to_dict()),
        snapshot.created_at,
    )


def read_values(session_id: str, from_seq: int, to_seq: int | None) -> tuple[str, int, int]:
    """The values of READ_EVENTS: the seq range clamped to the integer column."""
    last = MAX_SEQ if to_seq is None else min(to_seq, MAX_SEQ)
    return session_id, min(max(from_seq, 1), MAX_SEQ), last


def append_values(
    session_id: str, events: Sequence[Event], expected_seq: int | None, channel: str
) -> tuple[Any, ...]:
    """The values of APPEND: the events as columns, for append_events to unnest."""
    columns = [event_values(event) for event in events]
    return (
        session_id,
        expected_seq,
        [column[0] for column in columns],
        [column[1] for column in columns],
        [column[2] for column in columns],
        [column[3] for column in columns],
        channel,
    )


def appended(
    session_id: str,
    events: Sequence[Event],
    rows: Sequence[Sequence[Any]],
    found: Mapping[str, Event],
) -> list[Event]:
    """The events as stored, from APPEND's rows and the ``found`` events it marked known."""
    stored = []
    for event, (_, seq, moment, known) in zip(events, rows, strict=True):
        if known:
            stored.append(found[event.id])
            continue
        sequencing.stamp(session_id, (event,), last_seq=seq - 1, moment=_utc(moment))
        stored.append(event)
    return stored


def append_error(error: Any, session_id: str, expected_seq: int | None) -> BaseException:
    """The agentstore error for an error append_events raised, else the error itself."""
    state = error.diag.sqlstate
    if state == "AS002":
        return SessionNotFoundError(session_id)
    if state == "AS001":
        actual = int(error.diag.message_detail or 0)
        return ConcurrencyError(session_id, expected=expected_seq or 0, actual=actual)
    error_: BaseException = error
    return error_


def event_from_pg_row(row: Sequence[Any]) -> Event:
    """An event from a row of READ_EVENTS or EVENTS_BY_ID (its JSON columns as text)."""
    session_id, seq, event_id, kind, payload, moment, metadata, nanoseconds = row
    return event_from_row(
        session_id, seq, event_id, kind, payload, _utc(moment), metadata, nanoseconds
    )


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)
