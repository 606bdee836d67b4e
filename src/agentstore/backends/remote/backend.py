"""The sync backend of a store reached over HTTP: ``agentstore.open("http://host:8750")``.

Each operation is one call of :mod:`agentstore.backends.remote.calls`, sent through a
pool of kept-alive connections (:mod:`agentstore.backends.remote.transport`); the store
above it checks, folds and plans as it does for any backend, and the server's store
checks and stamps again, so a remote store gives the answers of a local one.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar, cast

import httpcore2
import httpx2

from agentstore.backends import forked
from agentstore.backends.base import AppendRequest, Backend, Problem, Subscription
from agentstore.backends.lane import Outcomes, ThreadLane
from agentstore.backends.remote import calls
from agentstore.backends.remote.feeds import RemoteSubscription
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

__all__ = ["PARALLEL_APPENDS", "RemoteBackend"]

_T = TypeVar("_T")
#: How many requests of appends a store may have on their way at once.
PARALLEL_APPENDS = 4


class RemoteBackend(Backend):
    """A store's server, as a sync backend.

    Args:
        url: the server's address, ``http://host:port`` or ``https://...``.
        token: the bearer token (``AGENTSTORE_TOKEN`` when not given).
        timeout: seconds a call may wait for the server (30).
        read_only: refuse every write, as for any store opened read-only.
    """

    def __init__(
        self, url: str, *, token: str | None = None, timeout: float = 30.0, read_only: bool = False
    ) -> None:
        self.url = url
        self._endpoint = Endpoint.of(url, token, timeout)
        self._pool = httpcore2.ConnectionPool(**self._endpoint.pool_settings())
        self._watches: httpx2.Client | None = None  # the client of subscriptions, when needed
        # Appends of threads that arrive while others are on their way go together.
        self._lane = ThreadLane(self._send_many, parallel=PARALLEL_APPENDS)
        # The next page of an iteration, read while it works through the one it has.
        self._reading = threading.Lock()
        self._reader: ThreadPoolExecutor | None = None
        self._ahead: dict[calls.PageKey, Future[tuple[list[Event], int | None]]] = {}
        try:
            health = self._send(calls.health())
        except AgentStoreError as error:
            self.close()
            raise not_a_store(url, error) from None
        # A server of a read-only store refuses every write: so does the store over it.
        self.read_only = read_only or health["read_only"] is True or health["access"] == "read"
        forked.reopen_after_fork(self)

    def after_fork_in_child(self) -> None:
        """In a forked child: connections of its own (the parent's threads may hold the
        pool's locks, and its connections are the parent's sockets)."""
        forked.set_aside(self._pool)
        forked.set_aside(self._watches)
        self._pool = httpcore2.ConnectionPool(**self._endpoint.pool_settings())
        self._watches = None
        self._lane = ThreadLane(self._send_many, parallel=PARALLEL_APPENDS)
        self._reading = threading.Lock()
        self._reader = None  # the parent's threads are not in this process
        self._ahead = {}

    def _send(self, call: calls.Call[_T]) -> _T:
        for attempt in itertools.count():
            try:
                return self._attempt(call)
            except BROKEN as error:
                time.sleep(pause_after(self.url, call, attempt, error))
        raise AssertionError("unreachable")

    def _attempt(self, call: calls.Call[_T]) -> _T:
        options = self._endpoint.request(call)
        if not call.streams:
            response = self._pool.request(**options)
            return call.answer(response.status, headers_of(response), response.content)
        with self._pool.stream(**options) as response:
            if response.status != 200:
                return call.answer(response.status, headers_of(response), response.read())
            lines = Lines()
            for chunk in response.iter_stream():
                lines.feed(chunk)
            return cast(_T, lines.end())

    def create_session(self, session: Session, history: Sequence[Event] = ()) -> Session:
        return self._send(calls.create_session(session, history))

    def get_session(self, session_id: str) -> Session:
        return self._send(calls.get_session(session_id))

    def list_sessions(
        self, *, limit: int, offset: int, labels: Mapping[str, str] | None
    ) -> list[Session]:
        return self._send(calls.list_sessions(limit, offset, labels))

    def update_session(self, session_id: str, update: SessionUpdate) -> Session:
        return self._send(calls.update_session(session_id, update))

    def delete_session(self, session_id: str) -> Session:
        return self._send(calls.delete_session(session_id))

    def append(
        self, session_id: str, events: Sequence[Event], *, expected_seq: int | None
    ) -> list[Event]:
        return self._lane.append(session_id, events, expected_seq)

    def append_one(self, session_id: str, event: Event, *, expected_seq: int | None) -> Event:
        return self._lane.append(session_id, (event,), expected_seq)[0]

    def _send_many(self, requests: list[AppendRequest]) -> Outcomes:
        """Send a batch of the lane: one append as itself, several in one request."""
        if len(requests) > 1:
            return self._send(calls.append_many(requests))
        ((session_id, events, expected_seq),) = requests
        try:
            return [self._send(calls.append(session_id, events, expected_seq))]
        except AgentStoreError as error:
            return [error]

    def import_events(self, session_id: str, events: Sequence[Event]) -> None:
        self._send(calls.import_events(session_id, events))

    def read(self, session_id: str, *, from_seq: int = 1, to_seq: int | None = None) -> list[Event]:
        return self._send(calls.read(session_id, from_seq, to_seq))

    def read_page(
        self,
        session_id: str,
        *,
        from_seq: int,
        to_seq: int | None,
        limit: int,
        cursor: int | None = None,
    ) -> tuple[list[Event], int | None]:
        asked: calls.PageKey = (session_id, from_seq, to_seq, limit, cursor)
        with self._reading:
            ahead = self._ahead.pop(asked, None)
        page = None
        if ahead is not None:
            with contextlib.suppress(AgentStoreError):  # asked again: its error is now's
                page = ahead.result()
        if page is None or not calls.is_whole(asked, page[0]):
            page = self._send(calls.read_page(*asked))
        following = calls.next_page(asked, *page)
        if following is not None:  # read while the caller works through this page
            self._read_ahead(following)
        return page

    def _read_ahead(self, asked: calls.PageKey) -> None:
        with self._reading:
            if self._reader is None:
                self._reader = ThreadPoolExecutor(2, thread_name_prefix="agentstore-read-ahead")
            self._ahead[asked] = self._reader.submit(self._send, calls.read_page(*asked))
            while len(self._ahead) > calls.PAGES_AHEAD:  # of iterations given up
                del self._ahead[next(iter(self._ahead))]

    def last_seq(self, session_id: str) -> int:
        return self._send(calls.last_seq(session_id))

    def read_snapshot(self, session_id: str) -> Snapshot | None:
        return self._send(calls.read_snapshot(session_id))

    def write_snapshot(self, snapshot: Snapshot) -> None:
        self._send(calls.write_snapshot(snapshot))

    def subscribe(self, session_id: str | None) -> Subscription:
        if self._watches is None:  # watches hold a connection each, however many
            self._watches = httpx2.Client(**self._endpoint.watches, limits=UNLIMITED)
        return RemoteSubscription(self._watches, session_id)

    def check(self, session_id: str) -> list[Problem]:
        return self._send(calls.check(session_id))

    def close(self) -> None:
        forked.forget(self)
        if self._reader is not None:
            self._reader.shutdown(wait=True, cancel_futures=True)
        self._pool.close()
        if self._watches is not None:
            self._watches.close()
