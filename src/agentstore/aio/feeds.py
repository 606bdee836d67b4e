"""Live feeds on the event loop: the async iterator that :meth:`AsyncStore.watch` returns."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from typing import Any

from agentstore.core.feeds import FeedFace
from agentstore.events import Event

__all__ = ["AsyncWatch"]


class AsyncWatch(FeedFace, AsyncIterator[Event]):
    """Events of one session (or all) as they are appended; ``async for`` over it.

    The feed starts at the first ``__anext__``, or when the watch is awaited
    (``feed = await store.watch()``): events appended after that are kept for it. The
    stored backlog of a session is read then too; events in both are yielded once.
    Iteration ends after ``timeout`` seconds without a new event, when :meth:`stop` is
    called, or when the store is closed. A watch is also an async context manager that
    stops it.
    """

    async def start(self) -> AsyncWatch:
        """Start the feed now (once): later events are kept for it; return the watch.

        Raises:
            SessionNotFoundError: the session watched does not exist.
        """
        await self._feed.start()
        return self

    def __await__(self) -> Generator[Any, None, AsyncWatch]:
        return self.start().__await__()

    def __aiter__(self) -> AsyncWatch:
        return self

    async def __anext__(self) -> Event:
        event = await self._feed.next()
        if event is None:
            raise StopAsyncIteration
        return event

    async def aclose(self) -> None:
        """End the feed (see :meth:`stop`)."""
        self.stop()

    async def __aenter__(self) -> AsyncWatch:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.stop()
