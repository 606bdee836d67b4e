"""A remote backend's subscriptions: a server's watch (Server-Sent Events), kept open.

A subscription asks the server for the events appended from now on (``live``) and
returns once the server says its feed is live (the ``ready`` message), so that no event
appended after :meth:`subscribe` returns is missed. A connection that drops is opened
again with ``Last-Event-ID``, the last seq received (or the seq before the first that
was due), so a watch of one session loses and repeats nothing; a watch of all sessions
resumes with the events appended after it reconnected. An error the server answers with
(the session was deleted, the token is refused) ends the subscription: the next
``wait`` raises it.

:class:`Stream` holds what both faces decide; :class:`RemoteSubscription` reads the
stream in a thread, :class:`AsyncRemoteSubscription` in a task.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Any

import httpx2

from agentstore.backends.base import AsyncSubscription, Subscription
from agentstore.backends.remote import calls, wire
from agentstore.errors import AgentStoreError
from agentstore.events import Event

__all__ = ["AsyncRemoteSubscription", "RemoteSubscription", "Stream"]

#: Seconds a stream may stay silent before it counts as broken (the server's
#: keep-alive comes every 15).
SILENCE = 40.0


class Stream:
    """Where a watch stream stands: what to ask when (re)connecting, what a message means."""

    def __init__(self, session_id: str | None) -> None:
        self.session_id = session_id
        self.last_id: str | None = None  # the id of the last message: resume after it
        self.ready = False
        self.error: AgentStoreError | None = None
        self.failures = 0

    def request(self) -> tuple[str, dict[str, Any], dict[str, str]]:
        """The path, query and headers of the next connection."""
        if self.session_id is None:
            return f"{wire.API}/watch", {}, {}
        path = calls._session_path(self.session_id, "/watch")
        if self.last_id is None:
            return path, {"live": "true"}, {}
        return path, {}, {"Last-Event-ID": self.last_id}

    def refused(self, status: int, body: bytes) -> AgentStoreError:
        self.error = wire.error_from(status, body)
        return self.error

    def receive(self, message: httpx2.ServerSentEvent) -> Event | None:
        """The event a message carries, or None for the ``ready`` message."""
        if message.id:
            self.last_id = message.id
        if message.event == "ready":
            self.ready = True
            self.failures = 0
            return None
        return wire.decode_lines(message.data.encode())[0]

    def pause(self) -> float:
        """Seconds before reconnecting after a connection failed."""
        self.failures += 1
        return calls.pause(min(self.failures - 1, 2))

    def given_up(self, url: str, error: BaseException) -> AgentStoreError | None:
        """The error to raise when the server cannot be reached before it said ready."""
        if self.ready or self.failures < calls.RUNS:
            return None
        self.error = calls.broken(url, error, sent=False, timed_out=False)
        return self.error


_TIMEOUT = httpx2.Timeout(10.0, read=SILENCE)


class RemoteSubscription(Subscription):
    """A server's watch, read by a thread of its own."""

    def __init__(self, client: httpx2.Client, session_id: str | None) -> None:
        self._client = client
        self._stream = Stream(session_id)
        self._events: list[Event] = []
        self._changed = threading.Condition()
        self._closed = False
        self._response: httpx2.Response | None = None
        self._thread = threading.Thread(target=self._read, name="agentstore-watch", daemon=True)
        self._thread.start()
        with self._changed:
            self._changed.wait_for(lambda: self._stream.ready or self._stream.error is not None)
        if self._stream.error is not None:
            self.close()
            raise self._stream.error

    def _read(self) -> None:
        stream = self._stream
        while not self._closed and stream.error is None:
            path, params, headers = stream.request()
            try:
                with self._client.sse(
                    path, params=params, headers=headers, timeout=_TIMEOUT
                ) as source:
                    self._response = source.response
                    if source.response.status_code != 200:
                        stream.refused(source.response.status_code, source.response.read())
                        self._tell(None)
                        return
                    for message in source:
                        if self.closed:
                            return
                        self._tell(stream.receive(message))
            except (httpx2.TransportError, httpx2.StreamError) as error:
                if self.closed:
                    return
                stream.given_up(str(self._client.base_url), error)
                self._tell(None)
                time.sleep(stream.pause())
            except AgentStoreError as error:  # a message that is not an event
                stream.error = error
                self._tell(None)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (from any thread)."""
        return self._closed

    def _tell(self, event: Event | None) -> None:
        """Wake the waiters, with ``event`` added to what they get, if any."""
        with self._changed:
            if event is not None:
                self._events.append(event)
            self._changed.notify_all()

    def wait(self, timeout: float | None) -> list[Event] | None:
        with self._changed:
            self._changed.wait_for(
                lambda: self._events or self._closed or self._stream.error is not None, timeout
            )
            if self._events:
                events, self._events = self._events, []
                return events
            if self._stream.error is not None and not self._closed:
                raise self._stream.error
            return None if self._closed else []

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        response = self._response
        if response is not None:
            # The thread's read ends (at the latest with the next keep-alive); closing
            # from this thread may race the read, which then fails and ends the same way.
            with contextlib.suppress(Exception):
                response.close()


class AsyncRemoteSubscription(AsyncSubscription):
    """A server's watch, read by a task on the store's loop."""

    def __init__(self, client: httpx2.AsyncClient, session_id: str | None) -> None:
        self._client = client
        self._stream = Stream(session_id)
        self._events: list[Event] = []
        self._changed = asyncio.Event()
        self._closed = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> AsyncRemoteSubscription:
        """Connect, and return once the server's feed is live."""
        self._task = asyncio.get_running_loop().create_task(self._read())
        while not self._stream.ready and self._stream.error is None and not self._task.done():
            self._changed.clear()
            await self._changed.wait()
        if self._stream.error is not None:
            self.close()
            raise self._stream.error
        return self

    async def _read(self) -> None:
        stream = self._stream
        while not self._closed and stream.error is None:
            path, params, headers = stream.request()
            try:
                async with self._client.sse(
                    path, params=params, headers=headers, timeout=_TIMEOUT
                ) as source:
                    if source.response.status_code != 200:
                        stream.refused(source.response.status_code, await source.response.aread())
                        self._changed.set()
                        return
                    async for message in source:
                        event = stream.receive(message)
                        if event is not None:
                            self._events.append(event)
                        self._changed.set()
            except (httpx2.TransportError, httpx2.StreamError) as error:
                stream.given_up(str(self._client.base_url), error)
                self._changed.set()
                await asyncio.sleep(stream.pause())
            except AgentStoreError as error:
                stream.error = error
                self._changed.set()

    async def wait(self, timeout: float | None) -> list[Event] | None:
        if not self._events and not self._closed and self._stream.error is None:
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)
        if self._events:
            events, self._events = self._events, []
            return events
        if self._stream.error is not None and not self._closed:
            raise self._stream.error
        return None if self._closed else []

    def close(self) -> None:
        self._closed = True
        self._changed.set()
        if self._task is not None:
            self._task.cancel()
