"""What the store's reads and forks do, planned from their checked arguments (pure, no I/O).

A replay is planned once (the seq range to read, the filters to apply to what was read)
and a fork's record and history are made here, so that each face of the store only reads
and writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from agentstore import timestamps
from agentstore.core.checks import check_count, check_types
from agentstore.events import Event, EventType, stored_event
from agentstore.ids import new_session_id, validate_session_id
from agentstore.sessions import Session, check_labels, check_name

__all__ = ["WHOLE_LOG", "ReplayPlan", "fork_history", "fork_record", "replay_plan"]


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    """What ``replay`` reads (``start`` to ``end``) and how it filters what it read."""

    start: int
    end: int | None
    types: frozenset[str] | None
    since: datetime | None
    until: datetime | None

    def keep(self, events: list[Event]) -> list[Event]:
        """The events read that pass the type and time filters."""
        if self.types is not None:
            wanted = self.types
            events = [event for event in events if event._type in wanted]
        if self.since is not None or self.until is not None:
            events = _between(events, self.since, self.until)
        return events


WHOLE_LOG = ReplayPlan(start=1, end=None, types=None, since=None, until=None)
"""The plan of a replay without filters: every event."""


def replay_plan(
    types: Iterable[EventType | str] | EventType | str | None,
    since: datetime | None,
    until: datetime | None,
    from_seq: int | None,
    to_seq: int | None,
) -> ReplayPlan:
    """Check the filters of ``replay``.

    Raises:
        InvalidArgumentError: a bad type, a naive time or a negative seq.
    """
    if types is None and since is None and until is None and from_seq is to_seq is None:
        return WHOLE_LOG  # the usual replay: nothing to check
    wanted = check_types(types)  # the checks run in the order of the arguments
    return ReplayPlan(
        start=1 if from_seq is None else max(check_count(from_seq, "from_seq"), 1),
        end=None if to_seq is None else check_count(to_seq, "to_seq"),
        types=wanted,
        since=None if since is None else timestamps.check(since, name="since"),
        until=None if until is None else timestamps.check(until, name="until"),
    )


def fork_record(
    parent: Session, at: int, name: str, labels: Mapping[str, str] | None, id: str | None
) -> Session:
    """The session a fork of ``parent`` at seq ``at`` creates (``at`` already checked)."""
    fork_id = new_session_id() if id is None else validate_session_id(id)
    return Session(
        id=fork_id,
        name=check_name(name) or parent.name,
        labels={**parent.labels, **check_labels(labels)},
        parent_id=parent.id,
        forked_at_seq=at,
    )


def fork_history(fork_id: str, events: Sequence[Event]) -> list[Event]:
    """The parent's events as the fork's own: the same ids, seqs, times and payloads."""
    return [
        stored_event(e.id, fork_id, e.seq, e.type, e.payload, e.timestamp, e.metadata, e._nanos)
        for e in events
    ]


def _between(events: list[Event], low: datetime | None, high: datetime | None) -> list[Event]:
    """Keep the events stamped within ``[low, high]`` (either end may be open)."""
    if low is None:
        return [event for event in events if event._timestamp <= high]  # type: ignore[operator]
    if high is None:
        return [event for event in events if event._timestamp >= low]
    return [event for event in events if low <= event._timestamp <= high]
