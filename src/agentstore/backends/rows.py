"""Events, sessions and snapshots as the rows of the SQL backends (pure, no I/O).

Payloads, metadata, labels and states are stored as JSON text (readable with the
database's own JSON functions); times as microseconds since the epoch in SQLite and as
``timestamptz`` in PostgreSQL, both with a ``nanos`` column beside them: the nanoseconds
beyond the microsecond of a time another program wrote (0 for the store's own times).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from agentstore.backends.codec import metadata_from_record
from agentstore.events import Event, _type_names, stored_event, stored_type_name
from agentstore.metadata import EMPTY_METADATA
from agentstore.sessions import Session
from agentstore.state import Snapshot, State

__all__ = [
    "event_from_row",
    "event_values",
    "from_micros",
    "json_text",
    "session_from_row",
    "snapshot_from_row",
    "to_micros",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_micros(moment: datetime) -> int:
    """Microseconds since the epoch (exact, unlike ``timestamp()``)."""
    return (moment - _EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    """The aware UTC datetime ``micros`` microseconds after the epoch."""
    return _EPOCH + _timedelta(0, 0, micros)  # positional: a third faster than by keyword


_timedelta = timedelta


def json_text(value: Any) -> str:
    """Compact JSON text."""
    return orjson.dumps(value).decode()


def event_values(event: Event) -> tuple[str, str, str, str]:
    """The id, type, payload and metadata columns of an event."""
    metadata = event.metadata
    encoded = "{}" if metadata is EMPTY_METADATA else json_text(metadata.to_dict())
    return event.id, event.type, json_text(event.payload), encoded


def event_from_row(
    session_id: str,
    seq: int,
    event_id: str,
    kind: str,
    payload: str,
    moment: datetime,
    metadata: str,
    nanoseconds: int = 0,
) -> Event:
    """Build an event from its columns, the JSON ones as text (parsed here).

    The type is taken as it is: another program may have written any text there. Empty
    metadata, the most frequent, is known by its text, without parsing it.

    Raises:
        ValueError: the payload or the metadata is not JSON, or not metadata.
        InvalidEventError: the type is not text.
    """
    fields = None if metadata == "{}" else _loads(metadata)
    return stored_event(
        event_id,
        session_id,
        seq,
        _type_names.get(kind) or stored_type_name(kind),
        _loads(payload),
        moment,
        metadata_from_record(fields) if fields else EMPTY_METADATA,
        nanoseconds,
    )


_loads = orjson.loads


def session_from_row(
    session_id: str,
    name: str,
    labels: str | Mapping[str, str],
    created_at: datetime,
    parent_id: str | None,
    forked_at_seq: int | None,
    event_count: int | None,
    updated_at: datetime | None,
) -> Session:
    """Build a session from its columns and its log's last seq and time."""
    pairs: Mapping[str, str] = orjson.loads(labels) if isinstance(labels, str) else labels
    return Session(
        id=session_id,
        name=name,
        labels=pairs,
        created_at=created_at,
        updated_at=updated_at or created_at,
        event_count=event_count or 0,
        parent_id=parent_id,
        forked_at_seq=forked_at_seq,
    )


def snapshot_from_row(
    session_id: str, version: int, reducer: str, state: str | Any, created_at: datetime
) -> Snapshot:
    """Build a snapshot from its columns."""
    if isinstance(state, (str, bytes)):
        state = orjson.loads(state)
    return Snapshot(session_id, version, State.from_dict(state), created_at, reducer)
