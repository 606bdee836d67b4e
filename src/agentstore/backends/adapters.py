"""Async faces of the sync backends, for the flows of :mod:`agentstore.core` to await.

The store's operations are written once, as coroutines over an
:class:`~agentstore.backends.base.AsyncBackend`. Three adapters give a sync backend that face:

- :class:`DirectBackend` calls it directly and never waits on an event loop, so the sync
  :class:`~agentstore.Store` runs those coroutines to completion at once
  (:func:`agentstore.core.running.run`);
- :class:`InlineBackend`, over the memory backend on an event loop, calls it directly too:
  nothing there blocks, so a thread hop would only add time;
- :class:`ThreadedBackend`, over the JSONL and SQLite backends on an event loop, runs each
  call in a pool of worker threads: their writes block on fsync, and appends from
  concurrent tasks share fsyncs there as threads do (group commit).

PostgreSQL has a native async backend instead
(:class:`agentstore.backends.postgres.AsyncPostgresBackend`).
"""

from __future__ import annotations

import asyncio
import functools
import threading
from abc import abstractmethod
from collections import deque
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from agentstore.backends import forked
from agentstore.backends.base import (
    AppendRequest,
    AsyncBackend,
    AsyncSubscription,
    Backend,
    Problem,
    Subscription,
)
from agentstore.backends.lane import AppendLane, Outcomes
from agentstore.backends.memory import MemoryBackend
from agentstore.backends.workers import Workers
from agentstore.events import Event
from agentstore.sessions import Session, SessionUpdate
from agentstore.state import Snapshot

__all__ = ["DirectBackend", "Inbox", "InlineBackend", "SyncAdapter", "ThreadedBackend"]

_R = TypeVar("_R")
Awaited = Coroutine[Any, Any, _R]  # what an async backend's method returns
_WORKERS = 16  # threads per store: more concurrent appends than that queue for one


class Inbox:
    """Events delivered to a feed, from the loop's thread or any other, and awaited."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread = threading.get_ident()  # the loop's: it is running while we are made
        self._events: deque[Event] = deque()
        self._ready = asyncio.Event()
        self.closed = False

    def put(self, events: Sequence[Event]) -> None:
        """Deliver events (from any thread)."""
        if threading.get_ident() == self._thread:
            self._put(events)
        else:
            self._call_soon(self._put, events)

    def end(self) -> None:
        """Close the inbox (from any thread): waits return None once it is empty."""
        if threading.get_ident() == self._thread:
            self._end()
        else:
            self._call_soon(self._end)

    async def wait(self, timeout: float | None) -> list[Event] | None:
        """The events delivered since the last call, waiting up to ``timeout`` seconds."""
        if not self._events and not self.closed:
            try:
                async with asyncio.timeout(timeout):
                    await self._ready.wait()
            except TimeoutError:
                pass
        self._ready.clear()
        if self._events:
            batch = list(self._events)
            self._events.clear()
            return batch
        return None if self.closed else []

    def _put(self, events: Sequence[Event]) -> None:
        if not self.closed:
            self._events.extend(events)
            self._ready.set()

    def _end(self) -> None:
        self.closed = True
        self._events.clear()
        self._ready.set()

    def _call_soon(self, callback: Callable[..., None], *args: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: no one is waiting any more
            self.closed = True


class _PushedFeed(AsyncSubscription):
    """A feed of the memory backend, which pushes events as they are appended."""

    def __init__(self, session_id: str | None) -> None:
        self.session_id = session_id
        self.closed = False
        self._inbox = Inbox(asyncio.get_running_loop())

    def push(self, events: Sequence[Event]) -> None:
        self._inbox.put(events)

    async def wait(self, timeout: float | None) -> list[Event] | None:
        return await self._inbox.wait(timeout)

    def close(self) -> None:
        self.closed = True
        self._inbox.end()


class _PumpedFeed(AsyncSubscription):
    """A sync feed waited on by a thread of its own, which hands its events to the loop."""

    def __init__(self, subscription: Subscription) -> None:
        self._subscription = subscription
        self._inbox = Inbox(asyncio.get_running_loop())
        threading.Thread(target=self._pump, name="agentstore-feed", daemon=True).start()

    def _pump(self) -> None:
        while not self._inbox.closed:
            try:
                batch = self._subscription.wait(None)
            except Exception:  # noqa: BLE001 - a feed whose backend failed ends
                batch = None
            if batch is None:
                self._inbox.end()
                return
            self._inbox.put(batch)

    async def wait(self, timeout: float | None) -> list[Event] | None:
        return await self._inbox.wait(timeout)

    def close(self) -> None:
        self._subscription.close()  # wakes the pump, which ends the inbox
        self._inbox.end()


class SyncAdapter(AsyncBackend):
    """An async backend that forwards each call to a sync backend through :meth:`_call`.

    Each method returns :meth:`_call`'s coroutine rather than awaiting it in one of its
    own: one coroutine a call, not two (a third of the cost of a memory read).
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.read_only = backend.read_only

    @abstractmethod
    def _call(self, method: Callable[..., _R], *args: Any, **kwargs: Any) -> Awaited[_R]:
        """A coroutine calling a method of the sync backend."""

    def create_session(self, session: Session, history: Sequence[Event] = ()) -> Awaited[Session]:
        return self._call(self.backend.create_session, session, history)

    def get_session(self, session_id: str) -> Awaited[Session]:
        return self._call(self.backend.get_session, session_id)

    def list_sessions(
        self, *, limit: int, offset: int, labels: Mapping[str, str] | None
    ) -> Awaited[list[Session]]:
        call = self.backend.list_sessions
        return self._call(call, limit=limit, offset=offset, labels=labels)

    def update_session(self, session_id: str, update: SessionUpdate) -> Awaited[Session]:
        return self._call(self.backend.update_session, session_id, update)

    def delete_session(self, session_id: str) -> Awaited[Session]:
        return self._call(self.backend.delete_session, session_id)

    def append(
        self, session_id: str, events: Sequence[Event], *, expected_seq: int | None
    ) -> Awaited[list[Event]]:
        return self._call(self.backend.append, session_id, events, expected_seq=expected_seq)

    def append_one(
        self, session_id: str, event: Event, *, expected_seq: int | None
    ) -> Awaited[Event]:
        return self._call(self.backend.append_one, session_id, event, expected_seq=expected_seq)

    def import_events(self, session_id: str, events: Sequence[Event]) -> Awaited[None]:
        return self._call(self.backend.import_events, session_id, events)

    def read(
        self, session_id: str, *, from_seq: int = 1, to_seq: int | None = None
    ) -> Awaited[list[Event]]:
        return self._call(self.backend.read, session_id, from_seq=from_seq, to_seq=to_seq)

    def read_page(
        self,
        session_id: str,
        *,
        from_seq: int,
        to_seq: int | None,
        limit: int,
        cursor: int | None = None,
    ) -> Awaited[tuple[list[Event], int | None]]:
        call = self.backend.read_page
        return self._call(
            call, session_id, from_seq=from_seq, to_seq=to_seq, limit=limit, cursor=cursor
        )

    def last_seq(self, session_id: str) -> Awaited[int]:
        return self._call(self.backend.last_seq, session_id)

    def read_snapshot(self, session_id: str) -> Awaited[Snapshot | None]:
        return self._call(self.backend.read_snapshot, session_id)

    def write_snapshot(self, snapshot: Snapshot) -> Awaited[None]:
        return self._call(self.backend.write_snapshot, snapshot)

    def check(self, session_id: str) -> Awaited[list[Problem]]:
        return self._call(self.backend.check, session_id)


class DirectBackend(SyncAdapter):
    """A sync backend as an async one whose calls never wait: the sync store's face.

    Each coroutine calls the backend and returns, so a flow awaiting only these completes
    in one step, without an event loop, in the caller's thread.
    """

    def __init__(self, backend: Backend) -> None:
        super().__init__(backend)
        self.inline = backend

    async def _call(self, method: Callable[..., _R], *args: Any, **kwargs: Any) -> _R:
        return method(*args, **kwargs)

    async def subscribe(self, session_id: str | None) -> AsyncSubscription:
        return _BlockingFeed(self.backend.subscribe(session_id))

    async def close(self) -> None:
        self.backend.close()


class _BlockingFeed(AsyncSubscription):
    """A sync feed awaited without a loop: its wait blocks the caller's thread."""

    def __init__(self, subscription: Subscription) -> None:
        self._subscription = subscription

    async def wait(self, timeout: float | None) -> list[Event] | None:
        return self._subscription.wait(timeout)

    def close(self) -> None:
        self._subscription.close()


class InlineBackend(SyncAdapter):
    """The memory backend, called directly on the loop: its calls never block."""

    def __init__(self, backend: MemoryBackend) -> None:
        super().__init__(backend)
        self.inline = backend
        self._memory = backend

    async def _call(self, method: Callable[..., _R], *args: Any, **kwargs: Any) -> _R:
        return method(*args, **kwargs)

    async def subscribe(self, session_id: str | None) -> AsyncSubscription:
        return self._memory.attach(_PushedFeed(session_id))

    async def close(self) -> None:
        self.backend.close()


class ThreadedBackend(SyncAdapter):
    """A sync backend whose calls block on disk, called from a pool of worker threads.

    A task cancelled while its call runs leaves the call to finish in its thread: an
    append is then stored whole (once) or not at all, never in part.

    Args:
        backend: the sync backend (JSONL or SQLite).
        workers: the most threads; concurrent appends beyond that wait for one.
    """

    def __init__(self, backend: Backend, *, workers: int = _WORKERS) -> None:
        super().__init__(backend)
        self._workers = Workers(asyncio.get_running_loop(), workers, name="agentstore-io")
        self._lane = self._new_lane()
        forked.reopen_after_fork(self)

    def after_fork_in_child(self) -> None:
        """In a forked child: new worker threads, for the loop that calls next.

        The sync backend reopens its own files (it is registered too); the appends the
        parent was gathering are the parent's.
        """
        self._workers.after_fork_in_child()
        self._lane = self._new_lane()

    def _new_lane(self) -> AppendLane | None:
        if not self.backend.commits_many:
            return None
        return AppendLane(self._commit, parallel=self.backend.parallel_commits)

    async def append(
        self, session_id: str, events: Sequence[Event], *, expected_seq: int | None
    ) -> list[Event]:
        if self._lane is None:
            return await super().append(session_id, events, expected_seq=expected_seq)
        return await self._lane.append(session_id, events, expected_seq)

    async def append_one(self, session_id: str, event: Event, *, expected_seq: int | None) -> Event:
        if self._lane is None:
            return await super().append_one(session_id, event, expected_seq=expected_seq)
        return (await self._lane.append(session_id, (event,), expected_seq))[0]

    async def _call(self, method: Callable[..., _R], *args: Any, **kwargs: Any) -> _R:
        return await self._workers.call(functools.partial(method, *args, **kwargs))

    def _commit(self, requests: list[AppendRequest]) -> asyncio.Future[Outcomes]:
        return self._workers.call(functools.partial(self.backend.append_many, requests))

    async def subscribe(self, session_id: str | None) -> AsyncSubscription:
        return _PumpedFeed(await self._call(self.backend.subscribe, session_id))

    async def close(self) -> None:
        # Calls under way finish first (a cancelled task's append among them); the wait
        # happens in a thread of its own, so the loop keeps running meanwhile.
        await asyncio.to_thread(self._shut_down)

    def _shut_down(self) -> None:
        forked.forget(self)
        self._workers.close()
        self.backend.close()
