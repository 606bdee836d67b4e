"""The store's operations, written once for both faces: :class:`StoreCore`.

:class:`agentstore.Store` and :class:`agentstore.aio.AsyncStore` are faces of this class.
It holds what a store is (its settings, the state cache, the ids already checked) and
does every operation as a coroutine over an
:class:`~agentstore.backends.base.AsyncBackend`: checks and plans from
:mod:`agentstore.core.checks` and :mod:`agentstore.core.plans`, then the backend calls.
The async face awaits these coroutines on its loop; the sync face awaits a
:class:`~agentstore.backends.adapters.DirectBackend`, whose calls never wait, and runs
them without a loop (:func:`agentstore.core.running.run`). So a face is one line per
operation, and an operation cannot change in one face and not in the other.

The append of one event and the cached latest state, an agent's every step, are checked
here too but called by each face directly: a coroutine would add a fifth to their cost.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypedDict, TypeVar

from agentstore.backends.base import AsyncBackend
from agentstore.core import checks, plans, sequencing
from agentstore.core.checks import check_count
from agentstore.core.feeds import Feed
from agentstore.core.materializer import Materializer
from agentstore.errors import InvalidArgumentError, StoreClosedError
from agentstore.events import Event
from agentstore.payloads import DEFAULT_MAX_PAYLOAD_BYTES
from agentstore.sessions import Session
from agentstore.state import Reducer, State, default_reducer

__all__ = ["StoreCore", "StoreSettings"]

_Backend = TypeVar("_Backend")
_prepare = sequencing.prepare


class StoreSettings(TypedDict, total=False):
    """The settings of a store, as keyword arguments (see :class:`StoreCore`)."""

    snapshot_interval: int
    reducer: Reducer | None
    max_payload_bytes: int


class StoreCore(Generic[_Backend]):
    """A store's settings, checks and operations around a backend of type ``_Backend``.

    Args:
        backend: where sessions, events and snapshots are kept.
        snapshot_interval: save the materialized state every this many events (0: never).
        reducer: derives state from events; :func:`agentstore.default_reducer` if None.
        max_payload_bytes: the largest payload accepted, as compact UTF-8 JSON.
    """

    _backend_type: type[Any]  # checked by __init__: Backend, or AsyncBackend

    def __init__(
        self,
        backend: _Backend,
        *,
        snapshot_interval: int = 100,
        reducer: Reducer | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    ) -> None:
        if not isinstance(backend, self._backend_type):
            kind = self._backend_type.__name__
            raise InvalidArgumentError(f"backend must be a {kind}, not {type(backend).__name__}")
        if reducer is not None and not callable(reducer):
            raise InvalidArgumentError("reducer must be a callable (state, event) -> state")
        self._backend = backend
        self._flows = self._awaited(backend)
        self._snapshot_interval = check_count(snapshot_interval, "snapshot_interval")
        self._max_payload_bytes = check_count(max_payload_bytes, "max_payload_bytes")
        self._reducer: Reducer = reducer if reducer is not None else default_reducer
        self._states = Materializer(self._reducer, self._snapshot_interval)
        self._ids = checks.KnownIds()
        self._known_ids = self._ids.known
        self._feeds: weakref.WeakSet[Feed] = weakref.WeakSet()
        self._closed = False

    def _awaited(self, backend: _Backend) -> AsyncBackend:
        """The face's backend as the operations await it."""
        raise NotImplementedError

    @property
    def backend(self) -> _Backend:
        """The backend this store keeps its data in."""
        return self._backend

    @property
    def reducer(self) -> Reducer:
        """The reducer that materializes state."""
        return self._reducer

    @property
    def snapshot_interval(self) -> int:
        """How many events apart snapshots are taken (0: never)."""
        return self._snapshot_interval

    @property
    def closed(self) -> bool:
        """Whether the store was closed."""
        return self._closed

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<{type(self).__name__} {type(self._backend).__name__} {state}>"

    # Checks

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError()

    def _check_id(self, session_id: str) -> str:
        try:  # the common case inline: an id already checked
            if session_id in self._known_ids:
                return session_id
        except TypeError:
            pass
        return self._ids.check(session_id)

    def _prepared(self, session_id: str, event: Event, expected_seq: int | None) -> Event:
        """The checks of an append of one event, and the event ready for the backend."""
        if self._closed:
            raise StoreClosedError()
        try:  # _check_id() inline: this runs on every append
            known = session_id in self._known_ids
        except TypeError:
            known = False
        if not known:
            self._ids.check(session_id)
        if expected_seq is not None:
            check_count(expected_seq, "expected_seq")
        return _prepare(event, self._max_payload_bytes)

    # Checks before one backend call, which each face makes itself: a coroutine around
    # one call would cost the sync face more than the call (a third of a get_session).

    def _new_session(self, id: str | None, name: str, labels: Mapping[str, str] | None) -> Session:
        self._check_open()
        return checks.new_session(id, name, labels)

    def _open_id(self, session_id: str) -> str:
        self._check_open()
        return self._check_id(session_id)

    def _page(
        self, limit: int, offset: int, labels: Mapping[str, str] | None
    ) -> tuple[int, int, Mapping[str, str] | None]:
        self._check_open()
        return checks.page(limit, offset, labels)

    def _prepared_batch(
        self, session_id: str, events: Sequence[Event], expected_seq: int | None
    ) -> list[Event]:
        self._check_open()
        self._check_id(session_id)
        if expected_seq is not None:
            check_count(expected_seq, "expected_seq")
        return sequencing.prepare_batch(events, self._max_payload_bytes)

    def _read_from(self, session_id: str, from_seq: int) -> tuple[str, int]:
        self._check_open()
        start = max(check_count(from_seq, "from_seq"), 1)
        return self._check_id(session_id), start

    # The flows of several backend calls, once for both faces

    async def _get_state(self, session_id: str, at_seq: int | None) -> State:
        self._check_open()
        session_id = self._check_id(session_id)
        return await self._state(session_id, at_seq, await self._flows.last_seq(session_id))

    async def _state(self, session_id: str, at_seq: int | None, last: int) -> State:
        if at_seq is None:
            return await self._states.latest(self._flows, session_id, last)
        target = checks.check_at_seq(session_id, at_seq, last)
        return await self._states.at(self._flows, session_id, target, last)

    async def _fork(
        self,
        session_id: str,
        at_seq: int,
        name: str,
        labels: Mapping[str, str] | None,
        id: str | None,
    ) -> Session:
        self._check_open()
        parent = await self._flows.get_session(self._check_id(session_id))
        at = checks.check_at_seq(session_id, at_seq, parent.event_count)
        session = plans.fork_record(parent, at, name, labels, id)
        copied = await self._flows.read(parent.id, to_seq=at) if at else []
        return await self._flows.create_session(session, plans.fork_history(session.id, copied))

    def _feed(self, session_id: str | None, from_seq: int, timeout: float | None) -> Feed:
        self._check_open()
        start = checks.watch_start(session_id, from_seq)
        timeout = checks.check_timeout(timeout)
        if session_id is not None:
            session_id = self._check_id(session_id)
        feed = Feed(self._flows, session_id, from_seq=start, timeout=timeout)
        self._feeds.add(feed)
        return feed

    def _closing(self) -> bool:
        """Mark the store closed, end its feeds; whether it was open (its backend to close)."""
        if self._closed:
            return False
        self._closed = True
        self._states.clear()
        for feed in list(self._feeds):
            feed.stop()
        return True
