"""Live feeds: the iterator that :meth:`agentstore.Store.watch` returns."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from types import TracebackType

from agentstore.backends.base import Backend
from agentstore.errors import AgentStoreError
from agentstore.events import Event

__all__ = ["Backlog", "Watch"]


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


class Watch(Iterator[Event]):
    """Events of one session (or all) as they are appended; iterate it, stop it from anywhere.

    The feed starts when the watch is made: events appended after that are kept for it.
    The stored backlog of a session is read at the first ``next()``; events in both are
    yielded once. Iteration ends after ``timeout`` seconds without a new event,
    when :meth:`stop` is called (from any thread), or when the store is closed. A watch is
    also a context manager that stops it.
    """

    def __init__(
        self, backend: Backend, session_id: str | None, *, from_seq: int, timeout: float | None
    ) -> None:
        self._backend = backend
        self._session_id = session_id
        self._backlog = Backlog(from_seq)  # 0 for all sessions, whose seqs are not comparable
        self._timeout = timeout
        self._pending = self._backlog.pending
        self._stopped = False
        self._started = False
        self._subscription = backend.subscribe(session_id)

    @property
    def session_id(self) -> str | None:
        """The session watched, or None for all sessions."""
        return self._session_id

    @property
    def stopped(self) -> bool:
        """Whether the feed has ended."""
        return self._stopped

    def __iter__(self) -> Watch:
        return self

    def __next__(self) -> Event:
        while not self._stopped:
            if self._pending:
                return self._pending.popleft()
            try:
                if not self._started:
                    self._start()
                    continue
                batch = self._subscription.wait(self._timeout)
            except AgentStoreError:
                if self.stopped:  # the store closed under a read: the feed just ends
                    break
                raise
            if not batch:  # the timeout ran out, or the feed was closed
                break
            self._backlog.accept(batch)
        self.stop()
        raise StopIteration

    def stop(self) -> None:
        """End the feed and release its subscription; a blocked ``next()`` returns at once."""
        self._stopped = True
        self._subscription.close()

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
        if hasattr(self, "_subscription"):
            self.stop()

    def _start(self) -> None:
        self._started = True
        if self._session_id is not None:
            backlog = self._backlog
            backlog.accept(self._backend.read(self._session_id, from_seq=backlog.next_seq))
