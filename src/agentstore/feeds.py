"""Live feeds: the iterator that :meth:`agentstore.Store.watch` returns."""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType

from agentstore.core.feeds import Feed
from agentstore.core.running import run
from agentstore.events import Event

__all__ = ["Watch"]


class Watch(Iterator[Event]):
    """Events of one session (or all) as they are appended; iterate it, stop it from anywhere.

    The feed starts when the watch is made: events appended after that are kept for it.
    The stored backlog of a session is read at the first ``next()``; events in both are
    yielded once. Iteration ends after ``timeout`` seconds without a new event,
    when :meth:`stop` is called (from any thread), or when the store is closed. A watch is
    also a context manager that stops it.
    """

    def __init__(self, feed: Feed) -> None:
        self._feed = feed
        run(feed.subscribe())

    @property
    def session_id(self) -> str | None:
        """The session watched, or None for all sessions."""
        return self._feed.session_id

    @property
    def stopped(self) -> bool:
        """Whether the feed has ended."""
        return self._feed.stopped

    def __iter__(self) -> Watch:
        return self

    def __next__(self) -> Event:
        event = run(self._feed.next())
        if event is None:
            raise StopIteration
        return event

    def stop(self) -> None:
        """End the feed and release its subscription; a blocked ``next()`` returns at once."""
        self._feed.stop()

    close = stop

    def __enter__(self) -> Watch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __del__(self) -> None:
        if hasattr(self, "_feed"):
            self.stop()
