"""Materializing state: the latest-state cache, snapshots and folds, for one store.

Events never change once stored, so a state folded up to seq N stays true forever: the
store keeps the latest state of each session it has read and folds only the events
appended since. Snapshots are saved while folding, at multiples of the interval, so
appends never pay for them.

Every decision (where a fold starts, which snapshot is usable, when one is due, what is
cached) is a pure method here; :meth:`Materializer.latest` and :meth:`Materializer.at`
are the two flows, two or three backend calls around those decisions, written once as
coroutines for both faces of the store (the sync one runs them without a loop,
:mod:`agentstore.core.running`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import NamedTuple

from agentstore.backends.base import AsyncBackend
from agentstore.events import Event
from agentstore.frozen import FrozenDict, freeze
from agentstore.state import Reducer, Snapshot, State, fold, reducer_name, snapshot_due

__all__ = ["Materializer", "Start", "sealed", "snapshot_failed"]

log = logging.getLogger("agentstore")

_CACHE_LIMIT = 4096  # sessions whose latest state is kept; the oldest entry goes first


class Start(NamedTuple):
    """Where a fold starts: a state, and the version of the newest saved snapshot (0: none)."""

    state: State
    snapshot_version: int


class Materializer:
    """Derives the state of sessions from their events with one reducer."""

    def __init__(self, reducer: Reducer, snapshot_interval: int) -> None:
        self._reducer = reducer
        self._reducer_name = reducer_name(reducer)
        # A reducer without a name of its own (a lambda, a closure, a partial) shares its
        # name with others: it neither reads nor writes snapshots, so none are mixed.
        self.reads_snapshots = self._reducer_name is not None
        self._snapshot_interval = snapshot_interval if self._reducer_name else 0
        self._latest: dict[str, Start] = {}
        self._keeping = threading.Lock()  # cache writes only; reads take no lock

    # The flows

    async def latest(self, backend: AsyncBackend, session_id: str, last: int) -> State:
        """The state after event ``last``, the session's last seq; it is cached."""
        start = self._latest.get(session_id)
        if start is not None and start.state.version >= last:
            return start.state
        if start is None:
            snapshot = await backend.read_snapshot(session_id) if self.reads_snapshots else None
            start = self.start(session_id, snapshot, last, last)
        events = await backend.read(session_id, from_seq=start.state.version + 1, to_seq=last)
        state, due = self.fold(start, events, last)
        version = start.snapshot_version
        if due is not None:
            try:
                await backend.write_snapshot(due)
                version = due.version
            except OSError as error:
                snapshot_failed(due, error)
        return self.keep(session_id, state, version)

    async def at(self, backend: AsyncBackend, session_id: str, target: int, last: int) -> State:
        """The state after event ``target`` (``<= last``); nothing is cached or saved."""
        cached = self._latest.get(session_id)
        if cached is not None and cached.state.version <= target:
            base = cached.state
        else:
            snapshot = await backend.read_snapshot(session_id) if self.reads_snapshots else None
            base = self.start(session_id, snapshot, target, last).state
        events = await backend.read(session_id, from_seq=base.version + 1, to_seq=target)
        return sealed(fold(self._reducer, base, events))

    # The decisions

    def cached_start(self, session_id: str) -> Start | None:
        """The cached latest state of the session, to fold on from, if any."""
        return self._latest.get(session_id)

    def fold_on(
        self, session_id: str, start: Start, events: Sequence[Event], last: int
    ) -> State | None:
        """The cached ``start`` folded on to ``last`` and cached; None if a snapshot is due.

        :meth:`latest` without its I/O, for a face that read ``events`` itself; when a
        snapshot is due, :meth:`latest` is the way (it saves it).
        """
        state, due = self.fold(start, events, last)
        return None if due is not None else self.keep(session_id, state, start.snapshot_version)

    def start(self, session_id: str, snapshot: Snapshot | None, target: int, last: int) -> Start:
        """Where to fold from towards ``target``, given the session's saved snapshot."""
        if snapshot is None:
            return Start(State(session_id), 0)
        if (
            snapshot.session_id != session_id
            or snapshot.state.version != snapshot.version
            or snapshot.version > last
        ):
            log.warning("ignoring an unusable snapshot of session %r", session_id)
            return Start(State(session_id), 0)
        if snapshot.reducer != self._reducer_name:
            return Start(State(session_id), 0)  # another reducer's: never mix its state in
        if snapshot.version > target:
            return Start(State(session_id), snapshot.version)
        return Start(snapshot.state, snapshot.version)

    def fold(
        self, start: Start, events: Sequence[Event], last: int
    ) -> tuple[State, Snapshot | None]:
        """Fold ``events`` onto ``start``; also return the snapshot due on the way, if any."""
        base = start.state
        boundary = snapshot_due(
            self._snapshot_interval,
            snapshot_version=start.snapshot_version,
            base=base.version,
            target=last,
        )
        if boundary is None:
            return sealed(fold(self._reducer, base, events)), None
        split = boundary - base.version
        at_boundary = sealed(fold(self._reducer, base, events[:split]))
        tag = self._reducer_name or ""  # set: snapshots are off without a name
        snapshot = Snapshot(base.session_id, boundary, at_boundary, reducer=tag)
        return sealed(fold(self._reducer, at_boundary, events[split:])), snapshot

    def keep(self, session_id: str, state: State, snapshot_version: int) -> State:
        """Cache ``state`` as the session's latest (unless a newer one is) and return it."""
        with self._keeping:
            current = self._latest.get(session_id)
            if current is not None and current.state.version >= state.version:
                return state  # another thread got further meanwhile
            if current is None and len(self._latest) >= _CACHE_LIMIT:
                del self._latest[next(iter(self._latest))]
            self._latest[session_id] = Start(state, snapshot_version)
        return state

    def forget(self, session_id: str) -> None:
        """Forget the cached state of one session (it was deleted)."""
        with self._keeping:
            self._latest.pop(session_id, None)

    def clear(self) -> None:
        """Forget every cached state."""
        self._latest.clear()


def sealed(state: State) -> State:
    """``state`` with its data frozen (:mod:`agentstore.frozen`), as the store hands it out.

    A state is cached, saved in snapshots and returned to every caller of ``get_state``:
    data one of them could change in place would change it for the others, and be saved.
    """
    if type(state.data) is not FrozenDict:
        # Sealed in place rather than the state copied (dataclasses.replace: 2 µs): a state
        # is just folded, and freezing its data changes no value, only who may change it.
        object.__setattr__(state, "data", freeze(state.data))
    return state


def snapshot_failed(snapshot: Snapshot, error: OSError) -> None:
    """Log a snapshot that could not be saved: it only saves time; the log is the truth."""
    log.warning("could not save a snapshot of %r: %s", snapshot.session_id, error)
