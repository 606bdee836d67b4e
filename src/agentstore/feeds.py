"""Live feeds: the iterator that :meth:`agentstore.Store.watch` returns."""

from __future__ import annotations

from collections.abc import Iterator

from agentstore.core.feeds import Feed, FeedFace
from agentstore.core.running import run
from agentstore.events import Event

__all__ = ["Watch"]


class Watch(FeedFace, Iterator[Event]):
    """Events of one session (or all) as they are appended; iterate it, stop it from anywhere.

    The feed starts when the watch is made: events appended after that are kept for it.
    The stored backlog of a session is read at the first ``next()``; events in both are
    yielded once. Iteration ends after ``timeout`` seconds without a new event,
    when :meth:`stop` is called (from any thread), or when the store is closed. A watch is
    also a context manager that stops it.
    """

    def __init__(self, feed: Feed) -> None:
        super().__init__(feed)
        run(feed.subscribe())

    def __iter__(self) -> Watch:
        return self

    def __next__(self) -> Event:
        event = run(self._feed.next())
        if event is None:
            raise StopIteration
        return event

    def close(self) -> None:
        """The same as :meth:`stop`."""
        self.stop()

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
