"""Watches as Server-Sent Events: each event a message whose ``id`` is its seq.

However many clients watch a session, the server follows it once: a :class:`Channel`
holds one live feed of the store per watched session (and one for all sessions),
encodes each new event once and hands the bytes to every stream that watches it. A
stream joins its channel first, then reads its backlog from the store, and takes from
the channel only the events after the backlog's last: an event committed before it
joined is in the backlog, one committed after reaches it through the channel, and none
twice. The last stream to leave a channel ends its feed.

A stream starts with a ``ready`` message once it is live (for a session, its id is the
seq it follows, so a client that reconnects with the last id it has resumes where it
was); an idle stream gets a comment every :data:`KEEP_ALIVE` seconds. A client too slow
to take what it is sent (:data:`MOST_QUEUED` messages behind) is cut off: it reconnects
with ``Last-Event-ID`` and reads the rest from the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from agentstore.aio.feeds import AsyncWatch
from agentstore.aio.store import AsyncStore
from agentstore.backends.codec import encode_event
from agentstore.events import Event

__all__ = ["KEEP_ALIVE", "MOST_QUEUED", "READY", "Channel", "Hub", "hub", "message", "stream"]

#: Seconds between the comments that keep an idle stream open.
KEEP_ALIVE = 15.0
#: The most messages a stream may have waiting before it is cut off.
MOST_QUEUED = 10_000
#: Seconds a channel opened for a stream that never joined it lives.
UNUSED = 30.0
#: The first message of a stream: the feed is live.
READY = b"event: ready\ndata: {}\n\n"
_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
_END = (0, b"")  # what a channel hands its streams when its feed has ended

_Item = tuple[int, bytes]  # an event's seq (0 for all sessions) and its message


def message(event: Event, with_id: bool) -> bytes:
    """One event as a message: its record as the data (one line: JSON has no raw newline)."""
    data = b"data: " + encode_event(event)  # the record's newline ends the data line
    if with_id:
        return b"id: %d\n" % event.seq + data + b"\n"
    return data + b"\n"


class Channel:
    """One live feed of a session (or of all sessions), shared by the streams that watch it."""

    def __init__(self, hub: Hub, session_id: str | None, feed: AsyncWatch) -> None:
        self.session_id = session_id
        self._hub = hub
        self._feed = feed
        self._queues: set[asyncio.Queue[_Item]] = set()
        loop = asyncio.get_running_loop()
        self._pump = loop.create_task(self._run())
        # Opened for a stream that never started (its client left at once): ended unused.
        loop.call_later(UNUSED, self._close_unused)

    def join(self) -> asyncio.Queue[_Item]:
        """A queue of the messages of the events the feed yields from now on."""
        queue: asyncio.Queue[_Item] = asyncio.Queue()
        if self._pump.done():  # the feed ended (its session was deleted)
            queue.put_nowait(_END)
        else:
            self._queues.add(queue)
        return queue

    def leave(self, queue: asyncio.Queue[_Item]) -> None:
        """Stop handing messages to ``queue``; the last to leave ends the feed."""
        self._queues.discard(queue)
        if not self._queues:
            self.close()

    def _close_unused(self) -> None:
        if not self._queues:
            self.close()

    def close(self) -> None:
        self._hub.forget(self)
        self._feed.stop()
        self._pump.cancel()

    async def _run(self) -> None:
        with_ids = self.session_id is not None
        try:
            async for event in self._feed:
                item = (event.seq if with_ids else 0, message(event, with_ids))
                for queue in list(self._queues):
                    if queue.qsize() >= MOST_QUEUED:
                        self._queues.discard(queue)  # too slow: cut off, it resumes later
                        queue.put_nowait(_END)
                    else:
                        queue.put_nowait(item)
        finally:
            for queue in self._queues:
                queue.put_nowait(_END)
            self._hub.forget(self)


class Hub:
    """The channels of a server's store: at most one per watched session."""

    def __init__(self, store: AsyncStore) -> None:
        self._store = store
        self._channels: dict[str | None, Channel] = {}
        self._opening: dict[str | None, asyncio.Future[Channel]] = {}

    async def channel(self, session_id: str | None) -> Channel:
        """The channel of ``session_id``, opened if none is (its feed live on return).

        Raises:
            SessionNotFoundError: no such session.
        """
        found = self._channels.get(session_id)
        if found is not None:
            return found
        opening = self._opening.get(session_id)
        if opening is not None:  # another stream is opening it: wait for that
            return await asyncio.shield(opening)
        future: asyncio.Future[Channel] = asyncio.get_running_loop().create_future()
        self._opening[session_id] = future
        try:
            opened = await self._open(session_id)
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: a failure no one else awaited is not logged
            raise
        finally:
            del self._opening[session_id]
        self._channels[session_id] = opened
        future.set_result(opened)
        return opened

    async def _open(self, session_id: str | None) -> Channel:
        if session_id is None:
            feed = self._store.watch(None)
        else:  # live from the next seq: a stream reads what came before from the store
            last = (await self._store.get_session(session_id)).event_count
            feed = self._store.watch(session_id, from_seq=last + 1)
        try:
            await feed.start()
        except BaseException:
            feed.stop()
            raise
        return Channel(self, session_id, feed)

    def forget(self, channel: Channel) -> None:
        if self._channels.get(channel.session_id) is channel:
            del self._channels[channel.session_id]


def hub(request: Request) -> Hub:
    """The hub of the application serving ``request`` (made at its first watch)."""
    state = request.app.state
    found: Hub | None = getattr(state, "watch_hub", None)
    if found is None:
        found = state.watch_hub = Hub(state.store)
    return found


async def stream(
    request: Request, session_id: str | None, *, start: int | None, timeout: float | None
) -> Response:
    """The response that streams a watch.

    For a session, ``start`` is the first seq sent (None: the next one appended); for all
    sessions, None. ``timeout`` ends the stream after that many idle seconds.

    Raises:
        SessionNotFoundError: no such session (before the response starts).
    """
    store: AsyncStore = request.app.state.store
    channel = await hub(request).channel(session_id)
    messages = _messages(store, channel, start, timeout)
    return StreamingResponse(messages, media_type="text/event-stream", headers=_HEADERS)


async def _messages(
    store: AsyncStore, channel: Channel, start: int | None, timeout: float | None
) -> AsyncIterator[bytes]:
    queue = channel.join()  # first: what is committed from now on reaches the queue
    try:
        session_id = channel.session_id
        after: int | None = None  # the seq of the last event sent (a session's)
        backlog: list[Event] = []
        if session_id is not None and start is None:  # live: after the last stored now
            after = (await store.get_session(session_id)).event_count
        elif session_id is not None:
            after = max(start or 0, 1) - 1
            backlog = [e async for e in store.iter_events(session_id, from_seq=after + 1)]
        yield READY if after is None else b"id: %d\n" % after + READY
        if backlog:
            yield b"".join(message(event, True) for event in backlog)
            after = backlog[-1].seq
        del backlog
        async for chunk in _live(queue, after, timeout):
            yield chunk
    finally:
        channel.leave(queue)


async def _live(
    queue: asyncio.Queue[_Item], after: int | None, timeout: float | None
) -> AsyncIterator[bytes]:
    """The messages of the queue not sent yet, a burst at a time, and keep-alives."""
    idle_since = time.monotonic()
    wait = KEEP_ALIVE if timeout is None else min(KEEP_ALIVE, timeout)
    while True:
        item: _Item | None = None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                item = await queue.get()
        if item is None:
            if timeout is not None and time.monotonic() - idle_since >= timeout:
                return
            yield b": keep-alive\n\n"
            continue
        chunk: list[bytes] = []
        while item is not None:
            if item is _END:
                if chunk:
                    yield b"".join(chunk)
                return
            seq, data = item
            if after is None:
                chunk.append(data)
            elif seq > after:  # not sent already with the backlog
                chunk.append(data)
                after = seq
            item = None if queue.empty() else queue.get_nowait()
        if chunk:
            idle_since = time.monotonic()
            yield b"".join(chunk)
