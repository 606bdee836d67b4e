"""Checking a store's data: every log readable, seqs gapless, snapshots true to the events.

Reading never repairs anything: a verify only reports. Each problem names where it is (a
file and line for files, the session and seq for databases) and why it is one. The backend
checks its own format first (a JSONL backend reads every line of a log, so one bad line
does not hide the next); then the events it returns are checked the same way on every
backend, and the saved snapshot is compared with a fresh fold of the events it covers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agentstore.backends.base import Problem
from agentstore.errors import CorruptLogError, SessionNotFoundError
from agentstore.events import Event
from agentstore.state import Snapshot, State, fold, reducer_name

if TYPE_CHECKING:
    from agentstore.store import Store

__all__ = ["Problem", "VerifyReport", "verify"]


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
        record = store.get_session(session_id)
        found = store.backend.check(session_id)
        if any(problem.severity == "error" for problem in found):
            return found, record.event_count
        events = store.get_events(session_id)
        snapshot = store.backend.read_snapshot(session_id)
    except SessionNotFoundError:
        raise
    except CorruptLogError as error:
        return [corrupt(session_id, error)], 0
    found += _check_events(session_id, events, record.event_count)
    if snapshot is not None:
        found += _check_snapshot(store, snapshot, events)
    return found, len(events)


def _check_events(session_id: str, events: Sequence[Event], count: int) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    expected = 1
    for event in events:
        where = f"session {session_id} seq {event.seq}"
        if event.seq != expected:
            problems.append(Problem(session_id, where, f"expected seq {expected}"))
        if event.session_id != session_id:
            problems.append(Problem(session_id, where, f"belongs to {event.session_id!r}"))
        if event.id in seen:
            problems.append(Problem(session_id, where, f"repeats event id {event.id}"))
        seen.add(event.id)
        expected = max(expected, event.seq) + 1  # one gap is one problem, not a cascade
    if count != len(events):
        reason = f"the session counts {count} events; its log holds {len(events)}"
        problems.append(Problem(session_id, f"session {session_id}", reason))
    return problems


def _check_snapshot(store: Store, snapshot: Snapshot, events: Sequence[Event]) -> list[Problem]:
    session_id = snapshot.session_id
    where = f"session {session_id} snapshot"
    if snapshot.version > len(events):
        reason = f"saved at seq {snapshot.version}, past the last event ({len(events)})"
        return [Problem(session_id, where, reason)]
    if snapshot.reducer != reducer_name(store.reducer):
        return []  # made by another reducer: this store never reads it
    covered = [event for event in events if event.seq <= snapshot.version]
    expected = fold(store.reducer, State(session_id), covered) if covered else State(session_id)
    if not _same_state(snapshot.state, expected):
        reason = f"the state saved at seq {snapshot.version} differs from the events' fold"
        return [Problem(session_id, where, reason)]
    return []


def _same_state(saved: State, folded: State) -> bool:
    # Costs are float sums: another library's fold may differ in the last bits.
    same_cost = math.isclose(saved.tokens.cost_usd, folded.tokens.cost_usd, abs_tol=1e-9)
    plain = saved.to_dict(), folded.to_dict()
    for state in plain:
        state["tokens"] = {**state["tokens"], "cost_usd": 0}
    return same_cost and plain[0] == plain[1]
