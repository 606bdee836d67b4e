"""The AsyncStore: the Store's operations as coroutines, for agents on asyncio.

The async face of :class:`~agentstore.core.operations.StoreCore`, which holds every
operation once for both faces: each method here awaits the core's coroutine on the
store's event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Unpack

from agentstore.aio.feeds import AsyncWatch
from agentstore.aio.loops import running_loop
from agentstore.backends import forked
from agentstore.backends.base import AsyncBackend
from agentstore.backends.read_only import AsyncReadOnlyBackend
from agentstore.core.operations import StoreCore, StoreSettings
from agentstore.core.plans import replay_plan
from agentstore.errors import EventLoopError
from agentstore.events import Event, EventType
from agentstore.recording.async_recorder import AsyncRecorder
from agentstore.sessions import Session
from agentstore.state import State

__all__ = ["AsyncStore"]


class AsyncStore(StoreCore[AsyncBackend]):
    """An event store for agent sessions on asyncio, over one async backend.

    Open one with :func:`agentstore.aio.open`. Every operation of
    :class:`agentstore.Store` is here under the same name, with the same arguments,
    answers and errors, as a coroutine; :meth:`watch` returns an async iterator. A store
    is used from one event loop and is an async context manager that closes it.

    It takes the arguments of :class:`agentstore.Store`, with an async backend.
    """

    _backend_type = AsyncBackend

    def __init__(self, backend: AsyncBackend, **settings: Unpack[StoreSettings]) -> None:
        super().__init__(backend, **settings)
        self._inline = self._backend.inline  # read-only: the guarded one
        self._home = _Home(None if self._inline is not None else running_loop())

    def _awaited(self, backend: AsyncBackend) -> AsyncBackend:
        return backend

    # The checks of every operation also make sure it runs on the store's loop: a call
    # awaited on another would wait forever for an answer sent to the store's. (A call
    # made outside any loop, such as ``watch()`` from a thread, is awaited later.)

    def _check_open(self) -> None:
        super()._check_open()
        self._check_loop()

    def _prepared(self, session_id: str, event: Event, expected_seq: int | None) -> Event:
        self._check_loop()
        return super()._prepared(session_id, event, expected_seq)

    def _check_loop(self) -> None:
        own = self._home.loop
        if own is not None:
            loop = running_loop()
            if loop is not None and loop is not own:
                raise EventLoopError()

    def _refusing_writes(self, backend: AsyncBackend) -> AsyncBackend:
        return AsyncReadOnlyBackend.of(backend)

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop the store was opened on, where its calls must be awaited.

        None for the in-memory store, which answers on whichever loop awaits it (and for
        a store made outside a running loop). Code called on another loop hands its calls
        over, with :func:`asyncio.run_coroutine_threadsafe`.
        """
        return self._home.loop

    async def __aenter__(self) -> AsyncStore:
        self._check_open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # Sessions

    async def create_session(
        self,
        *,
        id: str | None = None,
        name: str = "",
        labels: Mapping[str, str] | None = None,
        exist_ok: bool = False,
    ) -> Session:
        """See :meth:`agentstore.Store.create_session`."""
        session = self._new_session(id, name, labels)
        if exist_ok and id is not None:
            return await self._get_or_create(session)
        return await self._backend.create_session(session)

    async def get_session(self, session_id: str) -> Session:
        """See :meth:`agentstore.Store.get_session`."""
        return await self._backend.get_session(self._open_id(session_id))

    async def list_sessions(
        self, *, limit: int | None = 100, offset: int = 0, labels: Mapping[str, str] | None = None
    ) -> list[Session]:
        """See :meth:`agentstore.Store.list_sessions`."""
        size, start, wanted = self._page(limit, offset, labels)
        return await self._backend.list_sessions(limit=size, offset=start, labels=wanted)

    async def update_session(
        self,
        session_id: str,
        *,
        name: str | None = None,
        labels: Mapping[str, str] | None = None,
        remove_labels: Iterable[str] | None = None,
    ) -> Session:
        """See :meth:`agentstore.Store.update_session`."""
        session_id, update = self._update(session_id, name, labels, remove_labels)
        return await self._backend.update_session(session_id, update)

    async def delete_session(self, session_id: str) -> Session:
        """See :meth:`agentstore.Store.delete_session`."""
        session_id = self._open_id(session_id)
        deleted = await self._backend.delete_session(session_id)
        self._states.forget(session_id)
        return deleted

    # Appending

    async def append(
        self, session_id: str, event: Event, *, expected_seq: int | None = None
    ) -> Event:
        """See :meth:`agentstore.Store.append`.

        A task cancelled while its append is under way leaves the event stored once or not
        at all.
        """
        prepared = self._prepared(session_id, event, expected_seq)
        inline = self._inline
        if inline is not None:  # the memory backend: no await at all
            return inline.append_one(session_id, prepared, expected_seq=expected_seq)
        return await self._backend.append_one(session_id, prepared, expected_seq=expected_seq)

    async def append_batch(
        self, session_id: str, events: Sequence[Event], *, expected_seq: int | None = None
    ) -> list[Event]:
        """See :meth:`agentstore.Store.append_batch`."""
        prepared = self._prepared_batch(session_id, events, expected_seq)
        if not prepared:
            await self._backend.last_seq(session_id)  # an unknown session is still an error
            return []
        return await self._backend.append(session_id, prepared, expected_seq=expected_seq)

    # Reading

    async def get_events(self, session_id: str, from_seq: int = 0) -> list[Event]:
        """See :meth:`agentstore.Store.get_events`."""
        session_id, start = self._read_from(session_id, from_seq)
        return await self._backend.read(session_id, from_seq=start)

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
        """See :meth:`agentstore.Store.replay`."""
        session_id = self._open_id(session_id)
        plan = replay_plan(types, since, until, from_seq, to_seq)
        return plan.keep(await self._backend.read(session_id, from_seq=plan.start, to_seq=plan.end))

    def iter_events(
        self,
        session_id: str,
        *,
        types: Iterable[EventType | str] | EventType | str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        from_seq: int | None = None,
        to_seq: int | None = None,
        page_size: int = 1000,
    ) -> AsyncIterator[Event]:
        """Return an async iterator of the session's events: ``async for`` over it.

        As :meth:`agentstore.Store.iter_events`: filtered as :meth:`replay`, read
        ``page_size`` at a time, in memory bounded by one page. A bad argument raises at
        the call, an unknown session at the first ``__anext__``.
        """
        checked = self._streaming(session_id, types, since, until, from_seq, to_seq, page_size)
        return _events(self._pages(*checked))

    async def get_state(self, session_id: str, *, at_seq: int | None = None) -> State:
        """See :meth:`agentstore.Store.get_state`."""
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
        """See :meth:`agentstore.Store.fork`."""
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

        See :meth:`agentstore.Store.recorder` for the arguments.
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


async def _events(pages: AsyncIterator[list[Event]]) -> AsyncIterator[Event]:
    """The events of the pages, one at a time."""
    async for page in pages:
        for event in page:
            yield event


class _Home:
    """The event loop an AsyncStore belongs to; in a forked child, the next one to call it."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self.loop = loop
        forked.reopen_after_fork(self)

    def after_fork_in_child(self) -> None:
        # The parent's loop does not run in the child: the store is used on a new one.
        self.loop = None
