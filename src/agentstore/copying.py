"""Copying sessions between stores, of any backends, verbatim.

Ids, seqs, times, payloads and metadata are kept; so are the session's name, labels,
creation time and fork origin, and its latest snapshot. A copy is resumable and
idempotent: a session already in the target receives only the events it lacks, so
running a copy again after an interruption finishes it, and running it once more copies
nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from agentstore.errors import InvalidArgumentError, SessionNotFoundError
from agentstore.sessions import Session
from agentstore.store import Store

__all__ = ["CopyReport", "copy_sessions"]

Progress = Callable[[str, int, int], None]


@dataclass
class CopyReport:
    """What a copy did: sessions seen, sessions created, and events written."""

    sessions: int = 0
    created: int = 0
    events: int = 0


def copy_sessions(
    source: Store,
    target: Store,
    session_ids: Iterable[str] | None = None,
    *,
    chunk: int = 1000,
    progress: Progress | None = None,
) -> CopyReport:
    """Copy sessions (all, or those named) with their events and snapshot into ``target``.

    Args:
        source: the store to copy from.
        target: the store to copy into (any backend).
        session_ids: the sessions to copy; every session of ``source`` when None.
        chunk: how many events are read and written at a time.
        progress: called as ``progress(session_id, copied, total)`` after each chunk.

    Raises:
        SessionNotFoundError: a named session is not in ``source``.
        InvalidArgumentError: the target holds a different session of the same id (more
            events, or another event at the same seq).
    """
    if type(chunk) is not int or chunk < 1:
        raise InvalidArgumentError(f"chunk must be a positive int, not {chunk!r}")
    report = CopyReport()
    for session_id in session_ids if session_ids is not None else _all_ids(source):
        report.sessions += 1
        created, written = _copy_session(source, target, session_id, chunk, progress)
        report.created += created
        report.events += written
    return report


def _all_ids(store: Store) -> Iterator[str]:
    offset = 0
    while page := store.list_sessions(limit=1000, offset=offset):
        yield from (session.id for session in page)
        offset += len(page)


def _copy_session(
    source: Store, target: Store, session_id: str, chunk: int, progress: Progress | None
) -> tuple[int, int]:
    record = source.get_session(session_id)
    total = record.event_count
    created, written = 0, 0
    try:
        have = _matching_prefix(source, target, record)
    except SessionNotFoundError:
        first = source.replay(session_id, from_seq=1, to_seq=chunk)
        target.backend.create_session(_bare(record), first)
        created, have, written = 1, len(first), len(first)
        _report(progress, session_id, have, total)
    while have < total:
        events = source.replay(session_id, from_seq=have + 1, to_seq=have + chunk)
        target.backend.import_events(session_id, events)
        have += len(events)
        written += len(events)
        _report(progress, session_id, have, total)
    snapshot = source.backend.read_snapshot(session_id)
    if snapshot is not None and snapshot.version <= have:
        target.backend.write_snapshot(snapshot)
    return created, written


def _matching_prefix(source: Store, target: Store, record: Session) -> int:
    """How many events the target's session already holds, checking it is the same one."""
    theirs_record = target.get_session(record.id)
    have = theirs_record.event_count
    if _identity(theirs_record) != _identity(record):
        raise InvalidArgumentError(
            f"cannot copy session {record.id!r}: the target holds another session of that id "
            "(its name, labels, creation time or fork origin differ)"
        )
    if have > record.event_count:
        raise InvalidArgumentError(
            f"cannot copy session {record.id!r}: the target holds {have} events, "
            f"the source {record.event_count}"
        )
    if have:
        (theirs,) = target.replay(record.id, from_seq=have, to_seq=have)
        (ours,) = source.replay(record.id, from_seq=have, to_seq=have)
        if theirs.id != ours.id:
            raise InvalidArgumentError(
                f"cannot copy session {record.id!r}: the target holds another event at seq "
                f"{have} ({theirs.id!r}, not {ours.id!r})"
            )
    return have


def _identity(record: Session) -> tuple[object, ...]:
    return (
        record.name,
        dict(record.labels),
        record.created_at,
        record.parent_id,
        record.forked_at_seq,
    )


def _bare(record: Session) -> Session:
    return Session(
        id=record.id,
        name=record.name,
        labels=record.labels,
        created_at=record.created_at,
        parent_id=record.parent_id,
        forked_at_seq=record.forked_at_seq,
    )


def _report(progress: Progress | None, session_id: str, copied: int, total: int) -> None:
    if progress is not None:
        progress(session_id, copied, total)
