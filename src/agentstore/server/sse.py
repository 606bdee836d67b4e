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
import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

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
_TICK = (0, b"tick")  # time to see whether a stream is idle

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
    return _Watch(store, channel, start, timeout)


class _Watch(Response):
    """A watch's stream, written by its own loop: each message goes from the channel's
    queue to the ASGI ``send`` with no generator, response iterator or timer of its own
    between them (a thousand streams share each event: what each costs, all pay).

    Keep-alives come from a ticker that wakes the stream every half :data:`KEEP_ALIVE` (or
    half the ``timeout``), so its messages need no timer each: a comment goes out once the
    stream has been silent that long (at most half as long again later), and ``timeout``
    ends it at most half a ``timeout`` late.
    """

    media_type = "text/event-stream"

    def __init__(
        self, store: AsyncStore, channel: Channel, start: int | None, timeout: float | None
    ) -> None:
        self.status_code = 200
        self.background = None
        self.init_headers(_HEADERS)
        self._store = store
        self._channel = channel
        self._start = start
        self._timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        queue = self._channel.join()  # first: what is committed from now on reaches it
        loop = asyncio.get_running_loop()
        period = (KEEP_ALIVE if self._timeout is None else min(KEEP_ALIVE, self._timeout)) / 2
        ticker = _Ticker(loop, period, queue)
        listener = loop.create_task(_until_gone(receive, queue))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            after = await self._opening(send)
            await self._live(send, queue, after)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            ticker.cancel()
            listener.cancel()
            self._channel.leave(queue)

    async def _opening(self, send: Send) -> int | None:
        """Send the ``ready`` message and the stored backlog; the seq of the last sent."""
        session_id = self._channel.session_id
        after: int | None = None  # the seq of the last event sent (a session's)
        backlog: list[Event] = []
        if session_id is not None and self._start is None:  # live: after the last stored
            after = (await self._store.get_session(session_id)).event_count
        elif session_id is not None:
            after = max(self._start or 0, 1) - 1
            iterator = self._store.iter_events(session_id, from_seq=after + 1)
            backlog = [event async for event in iterator]
        opening = [READY if after is None else b"id: %d\n" % after + READY]
        opening += [message(event, True) for event in backlog]
        if backlog:
            after = backlog[-1].seq
        await send(_more(b"".join(opening)))
        return after

    async def _live(self, send: Send, queue: asyncio.Queue[_Item], after: int | None) -> None:
        """Send the queue's messages not sent yet, a burst at a time, and keep-alives."""
        idle_since = written = time.monotonic()
        keep_alive = KEEP_ALIVE if self._timeout is None else min(KEEP_ALIVE, self._timeout)
        while True:
            chunk, ended, after = _burst(await queue.get(), queue, after)
            now = time.monotonic()
            if chunk:
                idle_since = written = now
                await send(_more(chunk))
            if ended or (self._timeout is not None and now - idle_since >= self._timeout):
                return
            if now - written >= keep_alive:
                written = now
                await send(_more(b": keep-alive\n\n"))


def _burst(
    item: _Item, queue: asyncio.Queue[_Item], after: int | None
) -> tuple[bytes, bool, int | None]:
    """The messages of ``item`` and of those queued behind it not sent yet (those after
    seq ``after``), whether the stream ends there, and the seq of the last."""
    chunk: list[bytes] = []
    while item is not _END:
        if item is not _TICK:
            seq, data = item
            if after is None:
                chunk.append(data)
            elif seq > after:  # not sent already with the backlog
                chunk.append(data)
                after = seq
        if queue.empty():
            return b"".join(chunk), False, after
        item = queue.get_nowait()
    return b"".join(chunk), True, after


def _more(body: bytes) -> Message:
    return {"type": "http.response.body", "body": body, "more_body": True}


class _Ticker:
    """Puts :data:`_TICK` in a stream's queue every ``period`` seconds, until cancelled."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, period: float, queue: asyncio.Queue[_Item]
    ) -> None:
        self._loop = loop
        self._period = period
        self._queue = queue
        self._handle = loop.call_later(period, self._tick)

    def _tick(self) -> None:
        self._queue.put_nowait(_TICK)
        self._handle = self._loop.call_later(self._period, self._tick)

    def cancel(self) -> None:
        self._handle.cancel()


async def _until_gone(receive: Receive, queue: asyncio.Queue[_Item]) -> None:
    """End the stream when its client leaves (a send to a client gone is not an error)."""
    while (await receive())["type"] != "http.disconnect":
        pass
    queue.put_nowait(_END)
