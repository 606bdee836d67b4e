"""Live feeds on the event loop: the async iterator that :meth:`AsyncStore.watch` returns."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from types import TracebackType
from typing import Any

from agentstore.core.feeds import Feed
from agentstore.events import Event

__all__ = ["AsyncWatch"]


class AsyncWatch(AsyncIterator[Event]):
    """Events of one session (or all) as they are appended; ``async for`` over it.

    The feed starts at the first ``__anext__``, or when the watch is awaited
    (``feed = await store.watch()``): events appended after that are kept for it. The
    stored backlog of a session is read then too; events in both are yielded once.
    Iteration ends after ``timeout`` seconds without a new event, when :meth:`stop` is
    called, or when the store is closed. A watch is also an async context manager that
    stops it.
    """

    def __init__(self, feed: Feed) -> None:
        self._feed = feed

    @property
    def session_id(self) -> str | None:
        """The session watched, or None for all sessions."""
        return self._feed.session_id

    @property
    def stopped(self) -> bool:
        """Whether the feed has ended."""
        return self._feed.stopped

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

    def stop(self) -> None:
        """End the feed and release its subscription; a waiting ``__anext__`` returns."""
        self._feed.stop()

    async def aclose(self) -> None:
        """End the feed (see :meth:`stop`)."""
        self.stop()

    def __del__(self) -> None:
        if hasattr(self, "_feed"):
            self.stop()  # an abandoned watch lets its feed go

    async def __aenter__(self) -> AsyncWatch:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
