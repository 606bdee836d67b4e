"""The AsyncStore: the Store's operations as coroutines, for agents on asyncio.

The async face of :class:`~agentstore.core.operations.StoreCore`, which holds every
operation once for both faces: each method here awaits the core's coroutine on the
store's event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from types import TracebackType

from agentstore.aio.feeds import AsyncWatch
from agentstore.aio.loops import running_loop
from agentstore.backends.base import AsyncBackend
from agentstore.core.operations import StoreCore
from agentstore.events import Event, EventType
from agentstore.payloads import DEFAULT_MAX_PAYLOAD_BYTES
from agentstore.recording.async_recorder import AsyncRecorder
from agentstore.sessions import Session
from agentstore.state import Reducer, State

__all__ = ["AsyncStore"]


class AsyncStore(StoreCore[AsyncBackend]):
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
        self._check_backend(backend)
        super().__init__(
            backend,
            backend,
            snapshot_interval=snapshot_interval,
            reducer=reducer,
            max_payload_bytes=max_payload_bytes,
        )
        self._inline = backend.inline
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
        return await self._create_session(id, name, labels)

    async def get_session(self, session_id: str) -> Session:
        """Return a session with its current event count.

        Raises:
            SessionNotFoundError: no such session.
            InvalidSessionIdError: ``session_id`` is not a valid session id.
        """
        return await self._get_session(session_id)

    async def list_sessions(
        self, *, limit: int = 100, offset: int = 0, labels: Mapping[str, str] | None = None
    ) -> list[Session]:
        """Return sessions, newest first; see :meth:`agentstore.Store.list_sessions`.

        Raises:
            InvalidArgumentError: a negative limit or offset, or bad labels.
        """
        return await self._list_sessions(limit, offset, labels)

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
        prepared = self._prepared(session_id, event, expected_seq)
        inline = self._inline
        if inline is not None:  # the memory backend: no await at all
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
        return await self._append_batch(session_id, events, expected_seq)

    # Reading

    async def get_events(self, session_id: str, from_seq: int = 0) -> list[Event]:
        """Return the session's events with ``seq >= from_seq`` (0: all), in order.

        Raises:
            SessionNotFoundError: no such session.
            InvalidArgumentError: ``from_seq`` is negative or not an int.
        """
        return await self._get_events(session_id, from_seq)

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
        return await self._replay(session_id, types, since, until, from_seq, to_seq)

    async def get_state(self, session_id: str, *, at_seq: int | None = None) -> State:
        """Return the session's state, derived from its events by the store's reducer.

        Raises:
            SessionNotFoundError: no such session.
            InvalidArgumentError: ``at_seq`` is negative, not an int, or past the last event.
        """
        return await self._get_state(session_id, at_seq)

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
        return await self._fork(session_id, at_seq, name, labels, id)

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
        return AsyncWatch(self._feed(session_id, from_seq, timeout))

    def recorder(
        self, session_id: str, *, worker_id: str = "", price: bool = True
    ) -> AsyncRecorder:
        """Return an :class:`~agentstore.aio.AsyncRecorder` of one session's events.

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
        if self._closing():
            await self._backend.close()

    async def close(self) -> None:
        """The same as :meth:`aclose`, under the name :class:`agentstore.Store` gives it."""
        await self.aclose()
