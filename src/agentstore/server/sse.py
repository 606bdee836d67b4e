"""A watch as Server-Sent Events: each event a message whose ``id`` is its seq.

The feed is started (subscribed, its backlog read) before the response begins, so an
unknown session is an error response and not an empty stream; a ``ready`` event then
says that every event appended from then on will follow. A comment every
:data:`KEEP_ALIVE` seconds keeps idle connections (and the proxies between) open, and a
client that goes away ends its feed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from agentstore.aio.feeds import AsyncWatch
from agentstore.backends.codec import encode_event
from agentstore.events import Event

__all__ = ["KEEP_ALIVE", "READY", "stream"]

#: Seconds between the comments that keep an idle stream open.
KEEP_ALIVE = 15.0
#: The first message of a stream: the feed is live.
READY = b"event: ready\ndata: {}\n\n"
_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


async def stream(request: Request, feed: AsyncWatch, *, after: int | None) -> Response:
    """The response that sends ``feed``'s events.

    A watch of one session gives their seqs as ids, and its ``ready`` message the seq
    ``after`` which it starts: a client that reconnects with the last id it has resumes
    where it was, even before its first event.
    """
    try:
        await feed.start()
    except BaseException:
        feed.stop()
        raise
    return StreamingResponse(
        _messages(feed, after), media_type="text/event-stream", headers=_HEADERS
    )


async def _messages(feed: AsyncWatch, after: int | None) -> AsyncIterator[bytes]:
    with_ids = after is not None
    yield READY if after is None else b"id: %d\n" % after + READY
    waiting: asyncio.Future[Event] | None = None
    try:
        while True:
            if waiting is None:
                waiting = asyncio.ensure_future(anext(feed))
            done, _ = await asyncio.wait((waiting,), timeout=KEEP_ALIVE)
            if not done:
                yield b": keep-alive\n\n"
                continue
            try:
                event = waiting.result()
            except StopAsyncIteration:
                return
            waiting = None
            yield message(event, with_ids)
    finally:
        feed.stop()
        if waiting is not None:
            waiting.cancel()


def message(event: Event, with_id: bool) -> bytes:
    """One event as a message: its record as the data (one line: JSON has no raw newline)."""
    data = b"data: " + encode_event(event)  # the record's newline ends the data line
    if with_id:
        return b"id: %d\n" % event.seq + data + b"\n"
    return data + b"\n"
