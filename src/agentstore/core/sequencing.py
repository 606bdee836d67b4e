"""The rules of appending: idempotent ids, optimistic concurrency, seqs and times (pure, no I/O).

A backend calls these while it holds its session lock, so every backend numbers events the
same way; the store prepares the events before, outside any lock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from agentstore import events as _events
from agentstore import timestamps
from agentstore.errors import ConcurrencyError, InvalidEventError
from agentstore.events import Event
from agentstore.payloads import copy_payload

__all__ = [
    "check_expected_seq",
    "check_import",
    "commit_time",
    "merge",
    "prepare",
    "resolve",
    "stamp",
]

_stored_event = _events.stored_event
_place = _events.place
_copy_payload = copy_payload


def prepare(event: Event, max_payload_bytes: int) -> Event:
    """Return a private copy of ``event`` for appending, its payload checked and copied.

    The copy is seen by no one else until the store returns it, so :func:`stamp` may fill
    in its seq and time in place instead of building the event a third time.

    Raises:
        InvalidEventError: ``event`` is not an Event or its payload is not plain JSON.
    """
    if type(event) is not Event:
        check_event(event)
    return _stored_event(
        event._id,
        "",
        0,
        event._type,
        _copy_payload(event._payload, max_payload_bytes),
        _events.UNSET_TIME,
        event._metadata,
    )


def prepare_batch(events: Sequence[Event], max_payload_bytes: int) -> list[Event]:
    """Prepare a batch; ids must be unique within it.

    Raises:
        InvalidEventError: an event is bad (its index is in the path) or an id repeats.
    """
    given: object = events
    if isinstance(given, (str, bytes)) or not isinstance(given, Sequence):
        raise InvalidEventError(f"events must be a sequence of Event, not {type(events).__name__}")
    prepared = []
    for index, event in enumerate(events):
        try:
            prepared.append(prepare(event, max_payload_bytes))
        except InvalidEventError as error:
            path = f"events[{index}]" + (f".{error.path}" if error.path else "")
            raise InvalidEventError(error.reason, path=path) from None
    seen: set[str] = set()
    for index, event in enumerate(prepared):
        if event.id in seen:
            raise InvalidEventError(f"event id {event.id!r} appears twice", path=f"events[{index}]")
        seen.add(event.id)
    return prepared


def check_event(event: object) -> None:
    """Raise InvalidEventError unless ``event`` is an Event."""
    if not isinstance(event, Event):
        raise InvalidEventError(
            f"expected an Event (see agentstore.new_event), not {type(event).__name__}"
        )


def check_expected_seq(session_id: str, expected_seq: int | None, last_seq: int) -> None:
    """Raise ConcurrencyError unless ``expected_seq`` is None or equals ``last_seq``."""
    if expected_seq is not None and expected_seq != last_seq:
        raise ConcurrencyError(session_id, expected=expected_seq, actual=last_seq)


def resolve(
    events: Sequence[Event], find: Callable[[str], Event | None]
) -> tuple[list[Event | None], list[Event]]:
    """Split a batch into the events the session already holds (by id) and the new ones.

    Returns the stored event or None for each position, and the new events in order.
    """
    known = [find(event._id) for event in events]
    fresh = [event for event, stored in zip(events, known, strict=True) if stored is None]
    return known, fresh


def stamp(session_id: str, fresh: Sequence[Event], *, last_seq: int, moment: datetime) -> None:
    """Give prepared events their session, consecutive seqs after ``last_seq`` and a time.

    Take the time from :func:`commit_time`: every event of a commit gets the same one.
    """
    for seq, event in enumerate(fresh, start=last_seq + 1):
        _place(event, session_id, seq, moment)


def check_import(
    session_id: str, events: Sequence[Event], last_seq: int, find: Callable[[str], object]
) -> None:
    """Raise unless ``events`` continue the session from ``last_seq``, with new ids."""
    if not events:
        return
    if events[0].seq != last_seq + 1:
        raise ConcurrencyError(session_id, expected=events[0].seq - 1, actual=last_seq)
    for offset, event in enumerate(events):
        if event.seq != events[0].seq + offset or event.session_id != session_id:
            raise InvalidEventError(
                f"event {offset} is not seq {events[0].seq + offset} of {session_id!r}"
            )
        if find(event.id) is not None:
            raise InvalidEventError(f"event id {event.id!r} is already stored")


def commit_time(last_timestamp: datetime) -> datetime:
    """The time of a commit: now, or the session's last event's time if the clock is behind.

    The time never goes back within a session (a clock stepped backwards gives the last
    event's time again), so time ranges and seq ranges agree.
    """
    moment = timestamps.now()
    return moment if moment >= last_timestamp else last_timestamp


def merge(known: Sequence[Event | None], fresh: Sequence[Event]) -> list[Event]:
    """Put the stamped new events back in the places :func:`resolve` took them from."""
    new = iter(fresh)
    return [stored if stored is not None else next(new) for stored in known]
