"""The async backend of a store reached over HTTP: ``agentstore.aio.open("http://...")``.

:class:`~agentstore.backends.remote.backend.RemoteBackend`'s twin: the same calls of
:mod:`agentstore.backends.remote.calls`, sent through an async pool of kept-alive
connections on the store's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, cast

import httpcore2
import httpx2

from agentstore.backends import forked
from agentstore.backends.base import AppendRequest, AsyncBackend, AsyncSubscription, Problem
from agentstore.backends.lane import AppendLane, Outcomes
from agentstore.backends.remote import calls
from agentstore.backends.remote.backend import PARALLEL_APPENDS
from agentstore.backends.remote.feeds import AsyncRemoteSubscription
from agentstore.backends.remote.transport import (
    BROKEN,
    UNLIMITED,
    Endpoint,
    Lines,
    headers_of,
    not_a_store,
    pause_after,
)
from agentstore.errors import AgentStoreError
from agentstore.events import Event
from agentstore.sessions import Session, SessionUpdate
from agentstore.state import Snapshot

__all__ = ["AsyncRemoteBackend"]

_T = TypeVar("_T")


class AsyncRemoteBackend(AsyncBackend):
    """A store's server, as an async backend: open it with :meth:`open`.

    Args: as :class:`~agentstore.backends.remote.backend.RemoteBackend`'s.
    """

    def __init__(
        self, url: str, *, token: str | None = None, timeout: float = 30.0, read_only: bool = False
    ) -> None:
        self.url = url
        self._endpoint = Endpoint.of(url, token, timeout)
        self._pool = httpcore2.AsyncConnectionPool(**self._endpoint.pool_settings())
        self._watches: httpx2.AsyncClient | None = None  # the client of subscriptions
        self.read_only = read_only
        # Appends of concurrent tasks that arrive while others are on their way go together,
        # in one request: the per-request cost, not the events, bounds a remote append.
        self._lane = AppendLane(self._send_many, parallel=PARALLEL_APPENDS)
        # The next page of an iteration, read while it works through the one it has.
        self._ahead: dict[calls.PageKey, asyncio.Future[tuple[list[Event], int | None]]] = {}
        forked.reopen_after_fork(self)

    def after_fork_in_child(self) -> None:
        """In a forked child: connections and a lane of its own, as the sync backend's."""
        forked.set_aside(self._pool)
        forked.set_aside(self._watches)
        self._pool = httpcore2.AsyncConnectionPool(**self._endpoint.pool_settings())
        self._watches = None
        # The appends the parent was sending are the parent's: a lane of the child's own.
        self._lane = AppendLane(self._send_many, parallel=PARALLEL_APPENDS)
        self._ahead = {}

    @classmethod
    async def open(
        cls, url: str, *, token: str | None = None, timeout: float = 30.0, read_only: bool = False
    ) -> AsyncRemoteBackend:
        """Connect to the server at ``url`` and check that a store answers there.

        Raises:
            StoreNotFoundError: no agentstore server answers there.
            AccessDeniedError: the server refuses the token.
            StorageError: the server cannot be reached.
        """
        backend = cls(url, token=token, timeout=timeout, read_only=read_only)
        try:
            health = await backend._send(calls.health())
        except AgentStoreError as error:
            await backend.close()
            raise not_a_store(url, error) from None
        backend.read_only = read_only or health["read_only"] is True or health["access"] == "read"
        return backend

    async def _send(self, call: calls.Call[_T]) -> _T:
        for attempt in itertools.count():
            try:
                return await self._attempt(call)
            except BROKEN as error:
                await asyncio.sleep(pause_after(self.url, call, attempt, error))
        raise AssertionError("unreachable")

    async def _attempt(self, call: calls.Call[_T]) -> _T:
        options = self._endpoint.request(call)
        if not call.streams:
            response = await self._pool.request(**options)
            return call.answer(response.status, headers_of(response), response.content)
        async with self._pool.stream(**options) as response:
            if response.status != 200:
                return call.answer(response.status, headers_of(response), await response.aread())
            lines = Lines()
            async for chunk in response.aiter_stream():
                lines.feed(chunk)
            return cast(_T, lines.end())

    async def create_session(self, session: Session, history: Sequence[Event] = ()) -> Session:
        return await self._send(calls.create_session(session, history))

    async def get_session(self, session_id: str) -> Session:
        return await self._send(calls.get_session(session_id))

    async def list_sessions(
        self, *, limit: int, offset: int, labels: Mapping[str, str] | None
    ) -> list[Session]:
        return await self._send(calls.list_sessions(limit, offset, labels))

    async def update_session(self, session_id: str, update: SessionUpdate) -> Session:
        return await self._send(calls.update_session(session_id, update))

    async def delete_session(self, session_id: str) -> Session:
        return await self._send(calls.delete_session(session_id))

    async def append(
        self, session_id: str, events: Sequence[Event], *, expected_seq: int | None
    ) -> list[Event]:
        return await self._lane.append(session_id, events, expected_seq)

    async def append_one(self, session_id: str, event: Event, *, expected_seq: int | None) -> Event:
        return (await self._lane.append(session_id, (event,), expected_seq))[0]

    def _send_many(self, requests: list[AppendRequest]) -> asyncio.Future[Outcomes]:
        """Send a batch of the lane: one append as itself, several in one request."""
        if len(requests) == 1:
            ((session_id, events, expected_seq),) = requests
            one = calls.append(session_id, events, expected_seq)
            return asyncio.ensure_future(self._outcome_of(one))
        return asyncio.ensure_future(self._send(calls.append_many(requests)))

    async def _outcome_of(self, call: calls.Call[list[Event]]) -> Outcomes:
        outcome: list[Event] | AgentStoreError
        try:
            outcome = await self._send(call)
        except AgentStoreError as error:
            outcome = error
        return [outcome]

    async def import_events(self, session_id: str, events: Sequence[Event]) -> None:
        await self._send(calls.import_events(session_id, events))

    async def read(
        self, session_id: str, *, from_seq: int = 1, to_seq: int | None = None
    ) -> list[Event]:
        return await self._send(calls.read(session_id, from_seq, to_seq))

    async def read_page(
        self,
        session_id: str,
        *,
        from_seq: int,
        to_seq: int | None,
        limit: int,
        cursor: int | None = None,
    ) -> tuple[list[Event], int | None]:
        asked: calls.PageKey = (session_id, from_seq, to_seq, limit, cursor)
        ahead = self._ahead.pop(asked, None)
        page = None
        if ahead is not None:
            with contextlib.suppress(AgentStoreError):  # asked again: its error is now's
                page = await ahead
        if page is None or not calls.is_whole(asked, page[0]):
            page = await self._send(calls.read_page(*asked))
        following = calls.next_page(asked, *page)
        if following is not None:  # read while the caller works through this page
            self._ahead[following] = asyncio.ensure_future(self._send(calls.read_page(*following)))
            while len(self._ahead) > calls.PAGES_AHEAD:  # of iterations given up
                _forget(self._ahead.pop(next(iter(self._ahead))))
        return page

    async def last_seq(self, session_id: str) -> int:
        return await self._send(calls.last_seq(session_id))

    async def read_snapshot(self, session_id: str) -> Snapshot | None:
        return await self._send(calls.read_snapshot(session_id))

    async def write_snapshot(self, snapshot: Snapshot) -> None:
        await self._send(calls.write_snapshot(snapshot))

    async def subscribe(self, session_id: str | None) -> AsyncSubscription:
        if self._watches is None:
            self._watches = httpx2.AsyncClient(**self._endpoint.watches, limits=UNLIMITED)
        return await AsyncRemoteSubscription(self._watches, session_id).start()

    async def check(self, session_id: str) -> list[Problem]:
        return await self._send(calls.check(session_id))

    async def close(self) -> None:
        forked.forget(self)
        for ahead in self._ahead.values():
            _forget(ahead)
        self._ahead.clear()
        await self._pool.aclose()
        if self._watches is not None:
            await self._watches.aclose()


def _forget(ahead: asyncio.Future[Any]) -> None:
    """Drop a page read ahead that no one will ask for: its error, if any, is not logged."""
    ahead.cancel()
    if ahead.done() and not ahead.cancelled():
        ahead.exception()
