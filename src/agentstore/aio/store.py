"""The AsyncStore: the Store's operations as coroutines, for agents on asyncio.

The twin of :class:`agentstore.Store`: the same argument checks, plans and state folds
(:mod:`agentstore.arguments`, :mod:`agentstore.sequencing`, the flows of
:mod:`agentstore.materializer`), with ``await`` where the Store calls its backend.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from types import TracebackType

from agentstore import arguments, sequencing
from agentstore.aio.backends import AsyncBackend
from agentstore.aio.feeds import AsyncWatch
from agentstore.aio.loops import running_loop
from agentstore.aio.recording import AsyncRecorder
from agentstore.arguments import check_count
from agentstore.errors import StoreClosedError
from agentstore.events import Event, EventType
from agentstore.materializer import snapshot_failed
from agentstore.payloads import DEFAULT_MAX_PAYLOAD_BYTES
from agentstore.sessions import Session
from agentstore.shell import StoreShell
from agentstore.state import Reducer, State, fold

__all__ = ["AsyncStore"]

_prepare = sequencing.prepare


class AsyncStore(StoreShell[AsyncBackend]):
    """An event store for agent sessions on asyncio, over one async backend.

    Open one with :func:`agentstore.aio.open`. Every operation of
    :class:`agentstore.Store` is here under the same name, with the same arguments,
    answers and errors, as a coroutine; :meth:`watch` returns an async iterator. A store
    is used from one event loop and is an async context manager that closes it.

    Args:
        backend: where sessions, events and snapshots are kept.
        snapshot_interval: save the materialized state every this many events (0: never).
        reducer: derives state from events; :func:`agentstore.default_reducer` if None.
        max_payload_bytes: the largest payload accepted, as compact UTF-8 JSON.
    """

    _backend_type = AsyncBackend

    def __init__(
        self,
        backend: AsyncBackend,
        *,
        snapshot_interval: int = 100,
        reducer: Reducer | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    ) -> None:
        super().__init__(
            backend,
            snapshot_interval=snapshot_interval,
            reducer=reducer,
            max_payload_bytes=max_payload_bytes,
        )
        self._inline = backend.inline
        self._watches: weakref.WeakSet[AsyncWatch] = weakref.WeakSet()
        self._loop = None if backend.inline is not None else running_loop()

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop the store was opened on, where its calls must be awaited.

        None for the in-memory store, which answers on whichever loop awaits it (and for
        a store made outside a running loop). Code called on another loop hands its calls
        over, with :func:`asyncio.run_coroutine_threadsafe`.
        """
        return self._loop

    async def __aenter__(self) -> AsyncStore:
        self._check_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    # Sessions

    async def create_session(
        self, *, id: str | None = None, name: str = "", labels: Mapping[str, str] | None = None
    ) -> Session:
        """Create a session (an agent run) and return it (see :meth:`Store.create_session`).

        Raises:
            SessionExistsError: a session with this id exists.
            InvalidSessionIdError: ``id`` is not a valid session id.
            InvalidArgumentError: ``name`` or ``labels`` are not strings.
        """
        self._check_open()
        return await self._backend.create_session(arguments.new_session(id, name, labels))

    async def get_session(self, session_id: str) -> Session:
        """Return a session with its current event count.

        Raises:
            SessionNotFoundError: no such session.
            InvalidSessionIdError: ``session_id`` is not a valid session id.
        """
        self._check_open()
        return await self._backend.get_session(self._check_id(session_id))

    async def list_sessions(
        self, *, limit: int = 100, offset: int = 0, labels: Mapping[str, str] | None = None
    ) -> list[Session]:
        """Return sessions, newest first; see :meth:`agentstore.Store.list_sessions`.

        Raises:
            InvalidArgumentError: a negative limit or offset, or bad labels.
        """
        self._check_open()
        size, start, wanted = arguments.page(limit, offset, labels)
        return await self._backend.list_sessions(limit=size, offset=start, labels=wanted)

    # Appending

    async def append(
        self, session_id: str, event: Event, *, expected_seq: int | None = None
    ) -> Event:
        """Append ``event`` to a session and return it as stored, with its seq and time.

        Idempotent by event id, as :meth:`agentstore.Store.append`. A task cancelled while
        its append is under way leaves the event stored once or not at all.

        Raises:
            SessionNotFoundError: no such session.
            ConcurrencyError: ``expected_seq`` is not the session's last seq.
            InvalidEventError: the payload is not plain JSON or too large.
            InvalidSessionIdError, InvalidArgumentError: bad arguments.
        """
        # The checks of Store.append, inlined alike; on the memory backend no await at all.
        if self._closed:
            raise StoreClosedError()
        try:
            known = session_id in self._known_ids
        except TypeError:
            known = False
        if not known:
            self._check_id(session_id)
        if expected_seq is not None:
            check_count(expected_seq, "expected_seq")
        prepared = _prepare(event, self._max_payload_bytes)
        inline = self._inline
        if inline is not None:
            return inline.append_one(session_id, prepared, expected_seq=expected_seq)
        return await self._backend.append_one(session_id, prepared, expected_seq=expected_seq)

    async def append_batch(
        self, session_id: str, events: Sequence[Event], *, expected_seq: int | None = None
    ) -> list[Event]:
        """Append several events atomically (all or none) with consecutive seqs.

        Raises:
            SessionNotFoundError: no such session.
            ConcurrencyError: ``expected_seq`` is not the session's last seq.
            InvalidEventError: an event is bad (its index is in the message).
            InvalidSessionIdError, InvalidArgumentError: bad arguments.
        """
        self._check_open()
        self._check_id(session_id)
        if expected_seq is not None:
            check_count(expected_seq, "expected_seq")
        prepared = sequencing.prepare_batch(events, self._max_payload_bytes)
        if not prepared:
            await self._backend.last_seq(session_id)  # an unknown session is still an error
            return []
        return await self._backend.append(session_id, prepared, expected_seq=expected_seq)

    # Reading

    async def get_events(self, session_id: str, from_seq: int = 0) -> list[Event]:
        """Return the session's events with ``seq >= from_seq`` (0: all), in order.

        Raises:
            SessionNotFoundError: no such session.
            InvalidArgumentError: ``from_seq`` is negative or not an int.
        """
        self._check_open()
        start = check_count(from_seq, "from_seq")
        return await self._backend.read(self._check_id(session_id), from_seq=max(start, 1))

    async def replay(
        self,
        session_id: str,
        *,
        types: Iterable[EventType | str] | EventType | str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        from_seq: int | None = None,
        to_seq: int | None = None,
    ) -> list[Event]:
        """Return the session's events in order, filtered; every range is inclusive.

        Raises:
            SessionNotFoundError: no such session.
            InvalidArgumentError: a bad type name, naive datetime or negative seq.
        """
        self._check_open()
        session_id = self._check_id(session_id)
        plan = arguments.replay_plan(types, since, until, from_seq, to_seq)
        if plan.empty:
            await self._backend.last_seq(session_id)  # an unknown session is still an error
            return []
        return plan.keep(await self._backend.read(session_id, from_seq=plan.start, to_seq=plan.end))

    async def get_state(self, session_id: str, *, at_seq: int | None = None) -> State:
        """Return the session's state, derived from its events by the store's reducer.

        Raises:
            SessionNotFoundError: no such session.
            InvalidArgumentError: ``at_seq`` is negative, not an int, or past the last event.
        """
        self._check_open()
        session_id = self._check_id(session_id)
        last = await self._backend.last_seq(session_id)
        if at_seq is None:
            state = self._states.cached(session_id, last)  # the common case: no await
            return state if state is not None else await self._latest(session_id, last)
        target = arguments.check_at_seq(session_id, at_seq, last)
        return await self._state_at(session_id, target, last)

    async def _latest(self, session_id: str, last: int) -> State:
        # The async twin of Materializer.latest: the same decisions, awaited calls.
        states = self._states
        start = states.cached_start(session_id)
        if start is None:
            reads = states.reads_snapshots
            snapshot = await self._backend.read_snapshot(session_id) if reads else None
            start = states.start(session_id, snapshot, last, last)
        events = await self._backend.read(session_id, from_seq=start.state.version + 1, to_seq=last)
        state, due = states.fold(start, events, last)
        version = start.snapshot_version
        if due is not None:
            try:
                await self._backend.write_snapshot(due)
                version = due.version
            except OSError as error:
                snapshot_failed(due, error)
        return states.keep(session_id, state, version)

    async def _state_at(self, session_id: str, target: int, last: int) -> State:
        # The async twin of Materializer.at.
        states = self._states
        base = states.cached_before(session_id, target)
        if base is None:
            reads = states.reads_snapshots
            snapshot = await self._backend.read_snapshot(session_id) if reads else None
            base = states.start(session_id, snapshot, target, last).state
        events = await self._backend.read(session_id, from_seq=base.version + 1, to_seq=target)
        return fold(self._reducer, base, events)

    # Forks and live feeds

    async def fork(
        self,
        session_id: str,
        *,
        at_seq: int,
        name: str = "",
        labels: Mapping[str, str] | None = None,
        id: str | None = None,
    ) -> Session:
        """Create a new session whose history is the first ``at_seq`` events of another.

        See :meth:`agentstore.Store.fork`.

        Raises:
            SessionNotFoundError: no such session.
            SessionExistsError: a session with ``id`` exists.
            InvalidArgumentError: ``at_seq`` is negative, not an int, or past the last event.
        """
        self._check_open()
        parent = await self._backend.get_session(self._check_id(session_id))
        at = arguments.check_at_seq(session_id, at_seq, parent.event_count)
        session = arguments.fork_record(parent, at, name, labels, id)
        copied = await self._backend.read(parent.id, to_seq=at) if at else []
        history = arguments.fork_history(session.id, copied)
        return await self._backend.create_session(session, history)

    def watch(
        self, session_id: str | None = None, *, from_seq: int = 0, timeout: float | None = None
    ) -> AsyncWatch:
        """Return an async iterator of a session's events as they are appended.

        As :meth:`agentstore.Store.watch`: with a session id, the stored events with
        ``seq >= from_seq`` come first, then new ones; with None, the events of every
        session appended after the feed starts. The feed starts at the first
        ``__anext__``, or at once with ``feed = await store.watch(...)``; an unknown
        session raises then.

        Raises:
            InvalidArgumentError: a negative ``from_seq`` or ``timeout``.
            SessionNotFoundError: (when the feed starts) no such session.
        """
        self._check_open()
        start = arguments.watch_start(session_id, from_seq)
        timeout = arguments.check_timeout(timeout)
        if session_id is not None:
            session_id = self._check_id(session_id)
        watch = AsyncWatch(self._backend, session_id, from_seq=start, timeout=timeout)
        self._watches.add(watch)
        return watch

    def recorder(
        self, session_id: str, *, worker_id: str = "", price: bool = True
    ) -> AsyncRecorder:
        """Return a :class:`~agentstore.aio.recording.AsyncRecorder` of one session's events.

        It records messages, plans, tool and LLM calls with their durations, tokens and
        costs in one line each.

        Args:
            session_id: the session to record into (it must exist when events are recorded).
            worker_id: recorded in each event's metadata, if given.
            price: price LLM calls from their tokens when no cost is given (needs the
                ``prices`` extra).

        Raises:
            InvalidSessionIdError: ``session_id`` is not a valid id.
        """
        return AsyncRecorder(self, self._check_id(session_id), worker_id=worker_id, price=price)

    async def aclose(self) -> None:
        """Close the store: watchers end, calls under way finish, the backend is released.

        Calling it again does nothing.
        """
        if self._closed:
            return
        self._closed = True
        self._states.clear()
        for watch in list(self._watches):
            watch.stop()
        await self._backend.close()

    async def close(self) -> None:
        """The same as :meth:`aclose`, under the name :class:`agentstore.Store` gives it."""
        await self.aclose()

    # Internals
