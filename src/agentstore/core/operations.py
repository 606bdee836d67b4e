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
from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, TypedDict, TypeVar

from agentstore.backends.base import AsyncBackend
from agentstore.core import checks, plans, sequencing
from agentstore.core.checks import check_count
from agentstore.core.feeds import Feed
from agentstore.core.materializer import Materializer
from agentstore.errors import (
    InvalidArgumentError,
    SessionExistsError,
    SessionNotFoundError,
    StoreClosedError,
)
from agentstore.events import Event, EventType
from agentstore.payloads import DEFAULT_MAX_PAYLOAD_BYTES
from agentstore.sessions import Session, SessionUpdate, check_update
from agentstore.state import Reducer, State, default_reducer

__all__ = ["StoreCore", "StoreSettings"]

_Backend = TypeVar("_Backend")
_prepare = sequencing.prepare


class StoreSettings(TypedDict, total=False):
    """The settings of a store, as keyword arguments (see :class:`StoreCore`)."""

    snapshot_interval: int
    reducer: Reducer | None
    max_payload_bytes: int
    read_only: bool


class StoreCore(Generic[_Backend]):
    """A store's settings, checks and operations around a backend of type ``_Backend``.

    Args:
        backend: where sessions, events and snapshots are kept.
        snapshot_interval: save the materialized state every this many events (0: never).
        reducer: derives state from events; :func:`agentstore.default_reducer` if None.
        max_payload_bytes: the largest payload accepted, as compact UTF-8 JSON.
        read_only: refuse every write with ReadOnlyStoreError, and save no snapshot
            (also when the backend was opened read-only).
    """

    _backend_type: type[Any]  # checked by __init__: Backend, or AsyncBackend

    def __init__(
        self,
        backend: _Backend,
        *,
        snapshot_interval: int = 100,
        reducer: Reducer | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        read_only: bool = False,
    ) -> None:
        if not isinstance(backend, self._backend_type):
            kind = self._backend_type.__name__
            raise InvalidArgumentError(f"backend must be a {kind}, not {type(backend).__name__}")
        if reducer is not None and not callable(reducer):
            raise InvalidArgumentError("reducer must be a callable (state, event) -> state")
        if type(read_only) is not bool:
            raise InvalidArgumentError(f"read_only must be True or False, not {read_only!r}")
        self._read_only = read_only or getattr(backend, "read_only", False) is True
        if self._read_only:  # every write, of every operation, is refused by the backend
            backend = self._refusing_writes(backend)
        self._backend = backend
        self._flows = self._awaited(backend)
        self._snapshot_interval = check_count(snapshot_interval, "snapshot_interval")
        self._max_payload_bytes = check_count(max_payload_bytes, "max_payload_bytes")
        self._reducer: Reducer = reducer if reducer is not None else default_reducer
        # A read-only store folds state as any other, but saving a snapshot is a write.
        saved_every = 0 if self._read_only else self._snapshot_interval
        self._states = Materializer(self._reducer, saved_every)
        self._ids = checks.KnownIds()
        self._known_ids = self._ids.known
        self._feeds: weakref.WeakSet[Feed] = weakref.WeakSet()
        self._closed = False

    def _awaited(self, backend: _Backend) -> AsyncBackend:
        """The face's backend as the operations await it."""
        raise NotImplementedError

    def _refusing_writes(self, backend: _Backend) -> _Backend:
        """The face's backend behind :mod:`agentstore.backends.read_only`'s guard."""
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
    def max_payload_bytes(self) -> int:
        """The largest payload accepted, as compact UTF-8 JSON."""
        return self._max_payload_bytes

    @property
    def snapshot_interval(self) -> int:
        """How many events apart snapshots are taken (0: never)."""
        return self._snapshot_interval

    @property
    def closed(self) -> bool:
        """Whether the store was closed."""
        return self._closed

    @property
    def read_only(self) -> bool:
        """Whether the store was opened read-only: it reads, and refuses every write."""
        return self._read_only

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

    def _update(
        self, session_id: str, name: object, labels: object, remove_labels: object
    ) -> tuple[str, SessionUpdate]:
        self._check_open()
        return self._check_id(session_id), check_update(name, labels, remove_labels)

    def _page(
        self, limit: int | None, offset: int, labels: Mapping[str, str] | None
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

    def _streaming(
        self,
        session_id: str,
        types: Iterable[EventType | str] | EventType | str | None,
        since: datetime | None,
        until: datetime | None,
        from_seq: int | None,
        to_seq: int | None,
        page_size: int,
    ) -> tuple[str, plans.ReplayPlan, int]:
        """The checks of ``iter_events``, made when it is called, before any read."""
        self._check_open()
        session_id = self._check_id(session_id)
        plan = plans.replay_plan(types, since, until, from_seq, to_seq)
        if not check_count(page_size, "page_size"):
            raise InvalidArgumentError("page_size must be at least 1, not 0")
        return session_id, plan, page_size

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

    async def _get_or_create(self, session: Session) -> Session:
        """The stored session with ``session``'s id, or ``session`` created if there is none.

        Other writers may create or delete that id meanwhile: creating and reading are
        tried in turn until one of them answers, so every caller ends with one session.
        """
        while True:
            try:
                return await self._flows.create_session(session)
            except SessionExistsError:
                pass
            try:
                return await self._flows.get_session(session.id)
            except SessionNotFoundError:
                continue  # deleted since it was found: create it after all

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

    async def _pages(
        self, session_id: str, plan: plans.ReplayPlan, size: int
    ) -> AsyncGenerator[list[Event], None]:
        """The events ``plan`` keeps, read ``size`` at a time: each page's (none are empty).

        Each page is read from the seq after the previous page's last event (the backend's
        cursor says where that is), so only one page is held at a time, and events
        appended meanwhile are read when the iteration gets to them. It ends with the
        first page shorter than ``size`` (the end of the log as that read found it) or at
        ``plan.end``. The session is looked up by the first read.
        """
        seq, cursor = plan.start, None
        while True:
            self._check_open()
            events, cursor = await self._flows.read_page(
                session_id, from_seq=seq, to_seq=plan.end, limit=size, cursor=cursor
            )
            read, seq = len(events), events[-1].seq + 1 if events else seq
            kept = plan.keep(events)
            del events  # one page held at a time: none while the next is read
            if kept:
                yield kept
            del kept
            if read < size or (plan.end is not None and seq > plan.end):
                return

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
