"""Live feeds on the event loop: the async iterator that :meth:`AsyncStore.watch` returns."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from types import TracebackType
from typing import Any

from agentstore.aio.backends import AsyncBackend, AsyncSubscription
from agentstore.errors import AgentStoreError
from agentstore.events import Event
from agentstore.feeds import Backlog

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

    def __init__(
        self, backend: AsyncBackend, session_id: str | None, *, from_seq: int, timeout: float | None
    ) -> None:
        self._backend = backend
        self._session_id = session_id
        self._backlog = Backlog(from_seq)
        self._timeout = timeout
        self._subscription: AsyncSubscription | None = None
        self._stopped = False

    @property
    def session_id(self) -> str | None:
        """The session watched, or None for all sessions."""
        return self._session_id

    @property
    def stopped(self) -> bool:
        """Whether the feed has ended."""
        return self._stopped

    async def start(self) -> AsyncWatch:
        """Start the feed now (once): later events are kept for it; return the watch.

        Raises:
            SessionNotFoundError: the session watched does not exist.
        """
        if self._subscription is None and not self._stopped:
            if self._session_id is not None:
                await self._backend.last_seq(self._session_id)  # fails for an unknown one
            subscription = await self._backend.subscribe(self._session_id)
            if self.stopped:  # stopped while subscribing
                subscription.close()
                return self
            self._subscription = subscription
            if self._session_id is not None:
                backlog = self._backlog
                backlog.accept(
                    await self._backend.read(self._session_id, from_seq=backlog.next_seq)
                )
        return self

    def __await__(self) -> Generator[Any, None, AsyncWatch]:
        return self.start().__await__()

    def __aiter__(self) -> AsyncWatch:
        return self

    async def __anext__(self) -> Event:
        pending = self._backlog.pending
        while not self._stopped:
            if pending:
                return pending.popleft()
            try:
                if self._subscription is None:
                    await self.start()
                    continue
                batch = await self._subscription.wait(self._timeout)
            except AgentStoreError:
                if self.stopped:  # the store closed under a read: the feed just ends
                    break
                raise
            if not batch:  # the timeout ran out, or the feed was closed
                break
            self._backlog.accept(batch)
        self.stop()
        raise StopAsyncIteration

    def stop(self) -> None:
        """End the feed and release its subscription; a waiting ``__anext__`` returns."""
        self._stopped = True
        if self._subscription is not None:
            self._subscription.close()

    async def aclose(self) -> None:
        """End the feed (see :meth:`stop`)."""
        self.stop()

    def __del__(self) -> None:
        if hasattr(self, "_subscription"):
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
