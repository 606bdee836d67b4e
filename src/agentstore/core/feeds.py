"""Live feeds, written once for both faces: what a watch yields, and when it ends.

A :class:`Feed` subscribes to its backend's new events, reads a session's stored backlog
and yields each event once, in order, until its timeout runs out without a new event, it
is stopped, its session is deleted, or its store closes. The sync
:class:`~agentstore.feeds.Watch` and the :class:`~agentstore.aio.AsyncWatch` are
iterators over one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from agentstore.backends.base import AsyncBackend, AsyncSubscription
from agentstore.errors import AgentStoreError, SessionNotFoundError
from agentstore.events import Event

__all__ = ["Backlog", "Feed", "FeedFace"]


class Backlog:
    """The events a feed has yet to yield, each once (pure, no I/O).

    A watch of one session reads the stored events from its first seq and also receives
    live ones, which may overlap: only events after the last one taken are kept. A watch
    of all sessions (``next_seq`` 0) keeps everything it receives.
    """

    __slots__ = ("next_seq", "pending")

    def __init__(self, next_seq: int) -> None:
        self.next_seq = next_seq
        self.pending: deque[Event] = deque()

    def accept(self, events: Sequence[Event]) -> None:
        """Queue the events not yielded yet."""
        if not self.next_seq:
            self.pending.extend(events)
            return
        for event in events:
            if event.seq >= self.next_seq:
                self.pending.append(event)
                self.next_seq = event.seq + 1


class Feed:
    """The events of one session (or, with None, of all) as they are appended.

    Args:
        backend: the backend to subscribe to and read from.
        session_id: the session watched, or None for all sessions.
        from_seq: the first seq yielded (a session's), 0 for all sessions.
        timeout: end after this many seconds without a new event (None: never).
    """

    def __init__(
        self,
        backend: AsyncBackend,
        session_id: str | None,
        *,
        from_seq: int,
        timeout: float | None,
    ) -> None:
        self.session_id = session_id
        self._stopped = False
        self._backend = backend
        self._backlog = Backlog(from_seq)  # 0 for all sessions, whose seqs are not comparable
        self._timeout = timeout
        self._subscription: AsyncSubscription | None = None
        self._backlog_read = session_id is None

    @property
    def stopped(self) -> bool:
        """Whether the feed has ended (it may be stopped from another thread)."""
        return self._stopped

    async def subscribe(self) -> None:
        """Start keeping the events appended from now on (once).

        Raises:
            SessionNotFoundError: the session watched does not exist.
        """
        if self._subscription is not None or self._stopped:
            return
        if self.session_id is not None:
            await self._backend.last_seq(self.session_id)  # fails for an unknown one
        subscription = await self._backend.subscribe(self.session_id)
        if self.stopped:  # stopped while subscribing
            subscription.close()
        else:
            self._subscription = subscription

    async def start(self) -> None:
        """Subscribe, and read the stored backlog of the session watched (once)."""
        await self.subscribe()
        if not self._backlog_read and self.session_id is not None and not self._stopped:
            self._backlog_read = True
            backlog = self._backlog
            backlog.accept(await self._backend.read(self.session_id, from_seq=backlog.next_seq))

    async def next(self) -> Event | None:
        """The next event, waiting for it if need be; None once the feed has ended."""
        pending = self._backlog.pending
        while not self._stopped:
            if pending:
                return pending.popleft()
            try:
                if self._subscription is None or not self._backlog_read:
                    await self.start()
                    continue
                batch = await self._subscription.wait(self._timeout)
            except SessionNotFoundError:
                if self._backlog_read and self.session_id is not None:
                    break  # the session watched was deleted: its feed ends
                raise
            except AgentStoreError:
                if self.stopped:  # the store closed under a read: the feed just ends
                    break
                raise
            if not batch:  # the timeout ran out, or the feed was closed
                break
            self._backlog.accept(batch)
        self.stop()
        return None

    def stop(self) -> None:
        """End the feed and release its subscription; a waiting :meth:`next` returns."""
        self._stopped = True
        if self._subscription is not None:
            self._subscription.close()


class FeedFace:
    """What a watch, sync or async, is besides its iteration: a view of its feed."""

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

    def stop(self) -> None:
        """End the feed and release its subscription; a waiting iteration returns at once."""
        self._feed.stop()

    def __del__(self) -> None:
        if hasattr(self, "_feed"):
            self.stop()  # an abandoned watch lets its feed go
