"""Live feeds by polling, for backends that other processes write without telling us.

Appends in this process wake the feeds at once (:meth:`Poller.notify`); appends by other
processes are found by asking the backend for new events every ``interval`` seconds, a
cheap indexed question while nothing changes.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable

from agentstore.backends.base import Backend, Subscription
from agentstore.events import Event

__all__ = ["Poller", "PollingFeed"]

Fetch = Callable[[], list[Event]]


class PollingFeed(Subscription):
    """A feed that asks ``fetch`` for the events new since its last call."""

    def __init__(self, poller: Poller, fetch: Fetch) -> None:
        self._poller = poller
        self._fetch = fetch
        self.closed = False

    def wait(self, timeout: float | None) -> list[Event] | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.closed:
            seen = self._poller.generation  # before fetching: a notice after it wakes us
            events = self._fetch()
            if events:
                return events
            if not self._poller.sleep(deadline, seen=seen):
                return []
        return None

    def close(self) -> None:
        self.closed = True
        self._poller.notify()


class Poller:
    """The feeds of one backend, and the signal that wakes them."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._changed = threading.Condition()
        self._feeds: weakref.WeakSet[PollingFeed] = weakref.WeakSet()
        self._sleeping = 0  # feeds waiting now: with none, appends skip the wake-up
        self.generation = 0  # counts notices, so a feed never sleeps through one
        self._closed = False

    def feed(self, fetch: Fetch) -> PollingFeed:
        """Open a feed that polls ``fetch``; it ends when the poller closes."""
        feed = PollingFeed(self, fetch)
        with self._changed:
            feed.closed = self._closed
            self._feeds.add(feed)
        return feed

    def notify(self) -> None:
        """Wake every feed: something was appended (in this process, or notified)."""
        self.generation += 1
        if self._sleeping:
            with self._changed:
                self._changed.notify_all()

    def sleep(self, deadline: float | None, *, seen: int) -> bool:
        """Wait for a notice after ``seen``, the next poll or the deadline.

        Returns False once past the deadline.
        """
        wait = self._interval
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            wait = min(wait, left)
        with self._changed:
            # Counted as sleeping before the generation is read: a notifier either sees
            # the count (and waits for this lock to notify) or this read sees its notice.
            self._sleeping += 1
            try:
                if not self._closed and self.generation == seen:
                    self._changed.wait(wait)
            finally:
                self._sleeping -= 1
        return True

    def session_feed(self, backend: Backend, session_id: str) -> PollingFeed:
        """A feed of one session's events appended from now on, read by seq."""
        next_seq = backend.last_seq(session_id) + 1

        def new_events() -> list[Event]:
            nonlocal next_seq
            events = backend.read(session_id, from_seq=next_seq)
            if events:
                next_seq = events[-1].seq + 1
            return events

        return self.feed(new_events)

    def after_fork_in_child(self) -> None:
        """In a forked child: end the feeds of the parent's watchers, start afresh.

        Runs alone in the child (see :mod:`agentstore.backends.forked`): the condition
        is replaced, since a thread of the parent may have held it at the fork.
        """
        self._changed = threading.Condition()
        self._sleeping = 0
        for feed in list(self._feeds):
            feed.closed = True
        self._feeds = weakref.WeakSet()

    def close(self) -> None:
        """End every feed."""
        with self._changed:
            self._closed = True
            feeds = list(self._feeds)
            self._changed.notify_all()
        for feed in feeds:
            feed.close()
