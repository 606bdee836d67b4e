"""Group commit: appenders of one log share a write and an fsync.

Each appender queues a request. If no commit is under way, it leads: it takes the whole
queue and commits it; the others wait on a lock of their own until their request is done
or it is their turn to lead the next commit. Each is acknowledged only once its events are
durable.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from agentstore.events import Event

__all__ = ["GroupCommit", "Request"]

_GATHER_SECONDS = 0.0002  # about an eighth of a local disk's fsync


class Request:
    """Events to append atomically, with their lines' parts encoded beforehand."""

    __slots__ = ("done", "error", "events", "expected_seq", "parts", "result", "signal", "verbatim")

    def __init__(
        self,
        events: Sequence[Event],
        expected_seq: int | None,
        parts: dict[str, tuple[bytes, bytes]],
        *,
        verbatim: bool = False,
    ) -> None:
        self.signal: threading.Lock | None = None  # a follower's: held until done or leading
        self.verbatim = verbatim  # stamped elsewhere (a copy): keep seqs and times
        self.events = events
        self.parts = parts
        self.expected_seq = expected_seq
        self.result: list[Event] = []
        self.error: BaseException | None = None
        self.done = False

    def outcome(self) -> list[Event]:
        """The stored events, or the error the commit met."""
        if self.error is not None:
            raise self.error
        return self.result


class GroupCommit:
    """The queue of one log; ``commit(batch)`` writes and fsyncs a batch of requests."""

    def __init__(self, commit: Callable[[list[Request]], None]) -> None:
        self._commit = commit
        self._queue: list[Request] = []
        self._queue_lock = threading.Lock()
        self._leader = False
        self._last_batch = 1
        # The leader waits on this (always held) lock; the request that completes the
        # gathering releases it.
        self._gathering = False
        self._gathered = threading.Lock()
        self._gathered.acquire()

    def submit(self, request: Request) -> list[Event]:
        """Have ``request`` committed (by this thread or the leader); return its outcome."""
        with self._queue_lock:
            self._queue.append(request)
            leading = not self._leader
            self._leader = True
            if not leading:
                request.signal = threading.Lock()
                request.signal.acquire()
            if self._gathering and len(self._queue) >= self._last_batch:
                self._gathering = False
                self._gathered.release()
        if request.signal is not None:
            try:
                request.signal.acquire()  # released when done, or when it is our turn to lead
            except BaseException:
                self._withdraw(request)  # interrupted while waiting (a KeyboardInterrupt)
                raise
            if request.done:
                return request.outcome()
        batch: list[Request] = []
        try:
            self._gather()
            with self._queue_lock:
                batch, self._queue = self._queue, []
            self._last_batch = len(batch)
            self._commit(batch)
        finally:
            for waiting in batch:
                waiting.done = True
                if waiting.signal is not None and waiting is not request:
                    waiting.signal.release()
            self._hand_over()
        return request.outcome()

    def _hand_over(self) -> None:
        """Wake the first queued request to lead the next commit, or end the lead."""
        with self._queue_lock:
            if self._queue:
                self._queue[0].signal.release()  # type: ignore[union-attr] # a follower's
            else:
                self._leader = False

    def _withdraw(self, request: Request) -> None:
        """Take back a request whose thread stopped waiting, without stalling the others."""
        with self._queue_lock:
            if request in self._queue:
                chosen = self._queue[0] is request and not request.signal.locked()  # type: ignore[union-attr]
                self._queue.remove(request)
                if not chosen:
                    return  # still queued behind a leader, who will pass the lead on
            elif request.done or not request.signal.acquire(blocking=False):  # type: ignore[union-attr]
                return  # already taken into a batch: the leader finishes it
        self._hand_over()  # it had been chosen to lead: pass that on

    def _gather(self) -> None:
        """Give the writers of the last batch a moment to queue again.

        Writers that just got their outcome need some Python time (and the GIL) to build
        their next event; a leader that wrote at once would catch half of them and pay an
        fsync for each half. Yielding for at most a fraction of an fsync until as many
        requests wait as the last batch had puts twice the events in each fsync under
        load, and costs a lone writer nothing (its last batch was itself).
        """
        with self._queue_lock:
            if len(self._queue) >= self._last_batch:
                return
            self._gathering = True
        woken = self._gathered.acquire(timeout=_GATHER_SECONDS)
        with self._queue_lock:
            if self._gathering:  # the time ran out first
                self._gathering = False
            elif not woken:  # released just after the time ran out: hold it again
                self._gathered.acquire()
