"""Materializing state: the latest-state cache, snapshots and folds, for one store.

Events never change once stored, so a state folded up to seq N stays true forever: the
store keeps the latest state of each session it has read and folds only the events
appended since. Snapshots are saved while folding, at multiples of the interval, so
appends never pay for them.
"""

from __future__ import annotations

import logging
import threading
from typing import NamedTuple

from agentstore.backends.base import Backend
from agentstore.state import Reducer, Snapshot, State, fold, reducer_name, snapshot_due

__all__ = ["Materializer"]

log = logging.getLogger("agentstore")

_CACHE_LIMIT = 4096  # sessions whose latest state is kept; the oldest entry goes first


class _Latest(NamedTuple):
    state: State
    snapshot_version: int  # of the newest snapshot known to be saved (0: none)


class Materializer:
    """Derives the state of sessions from their events with one reducer."""

    def __init__(self, backend: Backend, reducer: Reducer, snapshot_interval: int) -> None:
        self._backend = backend
        self._reducer = reducer
        self._reducer_name = reducer_name(reducer)
        # A reducer without a name of its own (a lambda, a closure, a partial) shares its
        # name with others: it neither reads nor writes snapshots, so none are mixed.
        self._snapshot_interval = snapshot_interval if self._reducer_name else 0
        self._latest: dict[str, _Latest] = {}
        self._keeping = threading.Lock()  # cache writes only; reads take no lock

    def latest(self, session_id: str, last: int) -> State:
        """Return the state after event ``last``, the session's last seq, and cache it."""
        cached = self._latest.get(session_id)
        if cached is not None and cached.state.version >= last:
            return cached.state
        if cached is None:
            base, snapshot_version = self._from_snapshot(session_id, last, last)
        else:
            base, snapshot_version = cached
        events = self._backend.read(session_id, from_seq=base.version + 1, to_seq=last)
        boundary = snapshot_due(
            self._snapshot_interval,
            snapshot_version=snapshot_version,
            base=base.version,
            target=last,
        )
        if boundary is not None:
            split = boundary - base.version
            base = fold(self._reducer, base, events[:split])
            events = events[split:]
            tag = self._reducer_name or ""  # set: snapshots are off without a name
            if self._save(Snapshot(session_id, boundary, base, reducer=tag)):
                snapshot_version = boundary
        state = fold(self._reducer, base, events)
        self._keep(session_id, _Latest(state, snapshot_version))
        return state

    def at(self, session_id: str, target: int, last: int) -> State:
        """Return the state after event ``target`` (``<= last``); nothing is cached or saved."""
        cached = self._latest.get(session_id)
        if cached is not None and cached.state.version <= target:
            base = cached.state
        else:
            base, _ = self._from_snapshot(session_id, target, last)
        events = self._backend.read(session_id, from_seq=base.version + 1, to_seq=target)
        return fold(self._reducer, base, events)

    def clear(self) -> None:
        """Forget every cached state."""
        self._latest.clear()

    def _keep(self, session_id: str, latest: _Latest) -> None:
        with self._keeping:
            current = self._latest.get(session_id)
            if current is not None and current.state.version >= latest.state.version:
                return  # another thread got further meanwhile
            if current is None and len(self._latest) >= _CACHE_LIMIT:
                del self._latest[next(iter(self._latest))]
            self._latest[session_id] = latest

    def _from_snapshot(self, session_id: str, target: int, last: int) -> tuple[State, int]:
        """Return where to start folding towards ``target``, and the saved snapshot's version."""
        if self._reducer_name is None:
            return State(session_id), 0
        snapshot = self._backend.read_snapshot(session_id)
        if snapshot is None:
            return State(session_id), 0
        if (
            snapshot.session_id != session_id
            or snapshot.state.version != snapshot.version
            or snapshot.version > last
        ):
            log.warning("ignoring an unusable snapshot of session %r", session_id)
            return State(session_id), 0
        if snapshot.reducer != self._reducer_name:
            return State(session_id), 0  # another reducer's: never mix its state into ours
        if snapshot.version > target:
            return State(session_id), snapshot.version
        return snapshot.state, snapshot.version

    def _save(self, snapshot: Snapshot) -> bool:
        try:
            self._backend.write_snapshot(snapshot)
        except OSError as error:  # a snapshot only saves time; the log is the truth
            log.warning("could not save a snapshot of %r: %s", snapshot.session_id, error)
            return False
        return True
