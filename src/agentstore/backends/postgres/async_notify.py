"""PostgreSQL feeds on the event loop: an async LISTEN connection and the feeds it wakes.

The notifications and their bookkeeping are the sync backend's
(:class:`~agentstore.backends.postgres.notify.Notices`); here a task reads them from a
psycopg async connection and wakes the feeds, which look for new events when woken and
every ``interval`` seconds in case a notification was lost (a dropped connection).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psycopg

from agentstore.backends.base import AsyncBackend, AsyncSubscription
from agentstore.backends.postgres.notify import Listening, Notices
from agentstore.events import Event

__all__ = ["AsyncListener", "AsyncPoller"]

Fetch = Callable[[], Awaitable[list[Event]]]


class AsyncPoller:
    """The feeds of one async backend, and the signal that wakes them."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.signal = asyncio.Event()  # replaced at each notice: a waiter keeps its own
        self.closed = False

    def notify(self) -> None:
        """Wake every feed: something was appended (or the feed set changed)."""
        signal, self.signal = self.signal, asyncio.Event()
        signal.set()

    def feed(self, fetch: Fetch) -> AsyncSubscription:
        """A feed that awaits ``fetch`` for the events new since its last call."""
        return _PolledFeed(self, fetch)

    async def session_feed(self, backend: AsyncBackend, session_id: str) -> AsyncSubscription:
        """A feed of one session's events appended from now on, read by seq."""
        next_seq = await backend.last_seq(session_id) + 1

        async def new_events() -> list[Event]:
            nonlocal next_seq
            events = await backend.read(session_id, from_seq=next_seq)
            if events:
                next_seq = events[-1].seq + 1
            return events

        return self.feed(new_events)

    async def sleep(self, signal: asyncio.Event, seconds: float) -> None:
        """Wait for ``signal`` (taken before looking) or ``seconds``."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await signal.wait()

    def close(self) -> None:
        """End every feed."""
        self.closed = True
        self.notify()


class _PolledFeed(AsyncSubscription):
    def __init__(self, poller: AsyncPoller, fetch: Fetch) -> None:
        self._poller = poller
        self._fetch = fetch
        self.closed = False

    async def wait(self, timeout: float | None) -> list[Event] | None:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        poller = self._poller
        while not (self.closed or poller.closed):
            signal = poller.signal  # before fetching: a notice after it wakes us
            events = await self._fetch()
            if events:
                return events
            wait = poller.interval
            if deadline is not None:
                left = deadline - loop.time()
                if left <= 0:
                    return []
                wait = min(wait, left)
            await poller.sleep(signal, wait)
        return None

    def close(self) -> None:
        self.closed = True
        self._poller.notify()


class AsyncListener(Listening):
    """A task that LISTENs on an async connection and wakes the feeds."""

    # The backend's marking waits on the feeds' signal for its marker to arrive.
    wakes_on_marks = True

    def __init__(self, url: str, channel: str, notices: Notices, poller: AsyncPoller) -> None:
        super().__init__(url, channel, notices, poller)
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Listen now (so no later commit is missed), then keep listening in a task."""
        self._connection = await self._listen()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                async for arrived in self._notifies():
                    self.deliver(arrived.payload)
            except psycopg.Error:
                await self._reconnect()

    def _notifies(self) -> AsyncIterator[psycopg.Notify]:
        if self._connection is None:
            raise psycopg.OperationalError("not listening")
        return self._connection.notifies()

    async def _listen(self) -> psycopg.AsyncConnection[Any]:
        connection = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
        await connection.execute(self.statement)
        return connection

    async def _reconnect(self) -> None:
        """Listen again on a new connection; the feeds poll meanwhile, then look again."""
        if self._connection is not None:
            with contextlib.suppress(psycopg.Error):
                await self._connection.close()
        while True:
            await asyncio.sleep(self.retry)
            try:
                self._connection = await self._listen()
            except psycopg.Error:
                continue
            self.listening_again()
            return

    async def close(self) -> None:
        """Stop listening and close the connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._connection is not None:
            with contextlib.suppress(psycopg.Error):
                await self._connection.close()
