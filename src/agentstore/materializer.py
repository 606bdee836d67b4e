"""Materializing state: the latest-state cache, snapshots and folds, for one store.

Events never change once stored, so a state folded up to seq N stays true forever: the
store keeps the latest state of each session it has read and folds only the events
appended since. Snapshots are saved while folding, at multiples of the interval, so
appends never pay for them.

The folds are written once, as flows: generators that yield the backend calls they need
(:data:`Call`) and receive their results. :func:`run` drives a flow on a
:class:`~agentstore.backends.base.Backend`; the async store drives the same flows with
``await`` on its async backend.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Generator
from typing import Any, NamedTuple, TypeVar

from agentstore.backends.base import Backend
from agentstore.state import Reducer, Snapshot, State, fold, reducer_name, snapshot_due

__all__ = ["Call", "Flow", "Materializer", "run"]

log = logging.getLogger("agentstore")

_CACHE_LIMIT = 4096  # sessions whose latest state is kept; the oldest entry goes first
_Result = TypeVar("_Result")


# A backend method a flow needs called, with its arguments: a plain tuple, which costs
# a fraction of a NamedTuple's construction on the path of every uncached get_state.
Call = tuple[str, tuple[Any, ...], dict[str, Any]]
Flow = Generator[Call, Any, _Result]


def run(flow: Flow[_Result], backend: Backend) -> _Result:
    """Drive ``flow`` on ``backend``: make each call it yields, send back the outcome."""
    result: Any = None
    error: Exception | None = None
    while True:
        try:
            method, args, kwargs = flow.send(result) if error is None else flow.throw(error)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        try:
            result, error = getattr(backend, method)(*args, **kwargs), None
        except Exception as failure:  # noqa: BLE001 - the flow handles it or re-raises it
            result, error = None, failure


def _read(session_id: str, from_seq: int, to_seq: int) -> Call:
    return "read", (session_id,), {"from_seq": from_seq, "to_seq": to_seq}


class _Latest(NamedTuple):
    state: State
    snapshot_version: int  # of the newest snapshot known to be saved (0: none)


class Materializer:
    """Derives the state of sessions from their events with one reducer."""

    def __init__(self, reducer: Reducer, snapshot_interval: int) -> None:
        self._reducer = reducer
        self._reducer_name = reducer_name(reducer)
        # A reducer without a name of its own (a lambda, a closure, a partial) shares its
        # name with others: it neither reads nor writes snapshots, so none are mixed.
        self._snapshot_interval = snapshot_interval if self._reducer_name else 0
        self._latest: dict[str, _Latest] = {}
        self._keeping = threading.Lock()  # cache writes only; reads take no lock

    def cached(self, session_id: str, last: int) -> State | None:
        """Return the cached state if it is after event ``last``, else None."""
        cached = self._latest.get(session_id)
        if cached is not None and cached.state.version >= last:
            return cached.state
        return None

    def latest(self, session_id: str, last: int) -> Flow[State]:
        """The state after event ``last``, the session's last seq; it is cached."""
        cached = self._latest.get(session_id)
        if cached is not None and cached.state.version >= last:
            return cached.state
        if cached is None:
            base, snapshot_version = yield from self._from_snapshot(session_id, last, last)
        else:
            base, snapshot_version = cached
        events = yield _read(session_id, base.version + 1, last)
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
            if (yield from self._save(Snapshot(session_id, boundary, base, reducer=tag))):
                snapshot_version = boundary
        state = fold(self._reducer, base, events)
        self._keep(session_id, _Latest(state, snapshot_version))
        return state

    def at(self, session_id: str, target: int, last: int) -> Flow[State]:
        """The state after event ``target`` (``<= last``); nothing is cached or saved."""
        cached = self._latest.get(session_id)
        if cached is not None and cached.state.version <= target:
            base = cached.state
        else:
            base, _ = yield from self._from_snapshot(session_id, target, last)
        events = yield _read(session_id, base.version + 1, target)
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

    def _from_snapshot(self, session_id: str, target: int, last: int) -> Flow[tuple[State, int]]:
        """Where to start folding towards ``target``, and the saved snapshot's version."""
        if self._reducer_name is None:
            return State(session_id), 0
        snapshot: Snapshot | None = yield "read_snapshot", (session_id,), {}
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

    def _save(self, snapshot: Snapshot) -> Flow[bool]:
        try:
            yield "write_snapshot", (snapshot,), {}
        except OSError as error:  # a snapshot only saves time; the log is the truth
            log.warning("could not save a snapshot of %r: %s", snapshot.session_id, error)
            return False
        return True
