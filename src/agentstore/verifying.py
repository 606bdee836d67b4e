"""Checking a store's data: every log readable, seqs gapless, snapshots true to the events.

Reading never repairs anything: a verify only reports. Each problem names where it is (a
file and line for files, the session and seq for databases) and why it is one. The backend
checks its own format first (a JSONL backend reads every line of a log, so one bad line
does not hide the next); then the events it returns are checked the same way on every
backend, and the saved snapshot is compared with a fresh fold of the events it covers.
The events are streamed (:meth:`~agentstore.Store.iter_events`), a page at a time; what
is kept of a session while it is checked is its event ids, to find repeated ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agentstore.backends.base import Problem
from agentstore.errors import CorruptLogError, SessionNotFoundError
from agentstore.events import Event
from agentstore.ids import validate_session_id
from agentstore.state import Reducer, Snapshot, State, fold, reducer_name

if TYPE_CHECKING:
    from agentstore.store import Store

__all__ = ["Problem", "VerifyReport", "verify"]

_FOLDED_AT_ONCE = 1000  # events a snapshot covers kept before they are folded


@dataclass
class VerifyReport:
    """What a verify checked and what it found."""

    sessions: int = 0
    events: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        """The problems that are damage (not warnings)."""
        return [problem for problem in self.problems if problem.severity == "error"]


def verify(
    store: Store,
    session_ids: Iterable[str] | None = None,
    *,
    progress: Callable[[str, list[Problem]], None] | None = None,
) -> VerifyReport:
    """Check the sessions named (all when None) and report every problem found.

    Args:
        store: the store to check; nothing in it is changed.
        session_ids: the sessions to check.
        progress: called as ``progress(session_id, problems)`` after each session.

    Raises:
        SessionNotFoundError: a named session is not in the store.
    """
    report = VerifyReport()
    ids = list(session_ids) if session_ids is not None else _all_ids(store)
    for session_id in ids:
        problems, events = _check_session(store, session_id)
        report.sessions += 1
        report.events += events
        report.problems.extend(problems)
        if progress is not None:
            progress(session_id, problems)
    return report


def corrupt(session_id: str, error: CorruptLogError) -> Problem:
    """The problem a :class:`CorruptLogError` reports."""
    return Problem(session_id, f"{error.path}:{error.line}", error.reason)


def _all_ids(store: Store) -> list[str]:
    return [session.id for session in store.list_sessions(limit=2**62)]


def _check_session(store: Store, session_id: str) -> tuple[list[Problem], int]:
    try:
        validate_session_id(session_id)  # before a backend makes a file name of it
        # The backend's check first: it reads every line, past the one a read stops at.
        found = store.backend.check(session_id)
        if any(problem.severity == "error" for problem in found):
            return found, _event_count(store, session_id)
        record = store.get_session(session_id)
        # The snapshot first: it never covers events appended after the events are read.
        snapshot = store.backend.read_snapshot(session_id)
        checks = _EventChecks(session_id, store.reducer, snapshot)
        for event in store.iter_events(session_id):  # a page at a time: any log's length
            checks.add(event)
    except SessionNotFoundError:
        raise
    except CorruptLogError as error:
        return [corrupt(session_id, error)], 0
    found += checks.problems
    found += checks.count_problems(record.event_count)
    if snapshot is not None:
        found += checks.snapshot_problems(snapshot)
    return found, checks.count


def _event_count(store: Store, session_id: str) -> int:
    try:
        return store.get_session(session_id).event_count
    except CorruptLogError:
        return 0  # the damage is where the count is read from, the log's end


class _EventChecks:
    """The checks of a session's events, made as they are read, one at a time.

    Only the event ids (for repeats) and the events a snapshot covers, until they are
    folded a batch at a time, are kept.
    """

    def __init__(self, session_id: str, reducer: Reducer, snapshot: Snapshot | None) -> None:
        self.session_id = session_id
        self.problems: list[Problem] = []
        self.count = 0
        self._seen: set[str] = set()
        self._expected = 1
        self._reducer = reducer
        # A snapshot made by another reducer is never read by this store: not checked.
        self._same_reducer = snapshot is not None and snapshot.reducer == reducer_name(reducer)
        self._covers = snapshot.version if snapshot is not None and self._same_reducer else 0
        self._fold = State(session_id)
        self._covered: list[Event] = []

    def add(self, event: Event) -> None:
        """Check the next event read."""
        session_id = self.session_id
        self.count += 1
        where = f"session {session_id} seq {event.seq}"
        if event.seq != self._expected:
            self.problems.append(Problem(session_id, where, f"expected seq {self._expected}"))
        if event.session_id != session_id:
            reason = f"belongs to {event.session_id!r}"
            self.problems.append(Problem(session_id, where, reason))
        if event.id in self._seen:
            self.problems.append(Problem(session_id, where, f"repeats event id {event.id}"))
        self._seen.add(event.id)
        self._expected = max(self._expected, event.seq) + 1  # one gap is one problem
        if event.seq <= self._covers:
            self._covered.append(event)
            if len(self._covered) >= _FOLDED_AT_ONCE:
                self._folded()

    def count_problems(self, count: int) -> list[Problem]:
        """The problem of a session record whose event count is not the log's."""
        if count == self.count:
            return []
        reason = f"the session counts {count} events; its log holds {self.count}"
        return [Problem(self.session_id, f"session {self.session_id}", reason)]

    def snapshot_problems(self, snapshot: Snapshot) -> list[Problem]:
        """The problems of the session's snapshot, against the events read."""
        session_id = self.session_id
        where = f"session {session_id} snapshot"
        if snapshot.version > self.count:
            reason = f"saved at seq {snapshot.version}, past the last event ({self.count})"
            return [Problem(session_id, where, reason)]
        if not self._same_reducer:
            return []
        if not _same_state(snapshot.state, self._folded()):
            reason = f"the state saved at seq {snapshot.version} differs from the events' fold"
            return [Problem(session_id, where, reason)]
        return []

    def _folded(self) -> State:
        """The fold of the covered events read so far."""
        if self._covered:
            self._fold = fold(self._reducer, self._fold, self._covered)
            self._covered = []
        return self._fold


def _same_state(saved: State, folded: State) -> bool:
    # Costs are float sums: another library's fold may differ in the last bits.
    same_cost = math.isclose(saved.tokens.cost_usd, folded.tokens.cost_usd, abs_tol=1e-9)
    plain = saved.to_dict(), folded.to_dict()
    for state in plain:
        state["tokens"] = {**state["tokens"], "cost_usd": 0}
    return same_cost and plain[0] == plain[1]
