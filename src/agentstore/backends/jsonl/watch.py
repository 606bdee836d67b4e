"""Live feeds of a JSONL directory.

Appends in this process wake the feeds at once; appends by other processes are found by
looking at the log files' sizes every ``poll_interval`` seconds (a ``stat`` per watched
log, or one directory scan for a feed of all sessions), so a feed costs nothing while the
logs are quiet and never reads a line twice.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from typing import TYPE_CHECKING

from agentstore.backends.base import Subscription
from agentstore.errors import SessionNotFoundError
from agentstore.events import Event

if TYPE_CHECKING:
    from agentstore.backends.jsonl import JsonlBackend

__all__ = ["FilePoller"]


class FilePoller:
    """The feeds of one backend, and the signal that wakes them."""

    def __init__(self, backend: JsonlBackend, interval: float) -> None:
        self._backend = backend
        self._interval = interval
        self._changed = threading.Condition()
        self._feeds: weakref.WeakSet[_FileFeed] = weakref.WeakSet()
        self._sleeping = 0  # feeds waiting now: with none, appends skip the wake-up
        self._closed = False

    def subscribe(self, session_id: str | None) -> Subscription:
        """Open a feed of the events appended from now on."""
        feed = _FileFeed(self, self._backend, session_id)
        with self._changed:
            if self._closed:
                feed.closed = True
            self._feeds.add(feed)
        return feed

    def notify(self) -> None:
        """Wake every feed: something was appended in this process."""
        if self._sleeping:
            with self._changed:
                self._changed.notify_all()

    def sleep(self, deadline: float | None) -> bool:
        """Wait for a change, the next poll or the deadline; False once past the deadline."""
        wait = self._interval
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            wait = min(wait, left)
        with self._changed:
            if not self._closed:
                self._sleeping += 1
                try:
                    self._changed.wait(wait)
                finally:
                    self._sleeping -= 1
        return True

    def close(self) -> None:
        """End every feed."""
        with self._changed:
            self._closed = True
            feeds = list(self._feeds)
            self._changed.notify_all()
        for feed in feeds:
            feed.close()


class _FileFeed(Subscription):
    def __init__(self, poller: FilePoller, backend: JsonlBackend, session_id: str | None) -> None:
        self._poller = poller
        self._backend = backend
        self._session_id = session_id
        self.closed = False
        if session_id is not None:
            self._next_seq = backend.last_seq(session_id) + 1
        else:
            # Where each log stood when the feed started: a byte offset at a line's end
            # (cheap for any number of logs); after the first read, the next seq.
            self._sizes = self._log_sizes()
            self._offsets = {sid: self._complete_end(sid) for sid in self._sizes}
            self._next: dict[str, int] = {}

    def wait(self, timeout: float | None) -> list[Event] | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.closed:
            events = self._new_events()
            if events:
                return events
            if not self._poller.sleep(deadline):
                return []
        return None

    def close(self) -> None:
        self.closed = True
        self._poller.notify()

    def _new_events(self) -> list[Event]:
        if self._session_id is not None:
            events = self._backend.read(self._session_id, from_seq=self._next_seq)
            if events:
                self._next_seq = events[-1].seq + 1
            return events
        found: list[Event] = []
        sizes = self._log_sizes()
        for session_id, size in sizes.items():
            if size == self._sizes.get(session_id):
                continue
            try:
                events = self._read(session_id)
            except SessionNotFoundError:  # a log whose session record is not there yet
                sizes.pop(session_id)
                continue
            if events:
                self._next[session_id] = events[-1].seq + 1
                self._offsets.pop(session_id, None)
            found.extend(events)
        self._sizes = sizes
        found.sort(key=lambda event: event.timestamp)
        return found

    def _read(self, session_id: str) -> list[Event]:
        offset = self._offsets.get(session_id)
        if offset is not None:
            events, self._offsets[session_id] = self._backend.log_of(session_id).events_after(
                offset
            )
            return events
        next_seq = self._next.get(session_id)
        if next_seq is None:  # a session created since the feed started
            record = self._backend.get_session(session_id)
            next_seq = (record.forked_at_seq or 0) + 1  # a fork's copied history is not new
        return self._backend.read(session_id, from_seq=next_seq)

    def _complete_end(self, session_id: str) -> int:
        try:
            return self._backend.log_of(session_id).last_end()
        except SessionNotFoundError:
            return 0

    def _log_sizes(self) -> dict[str, int]:
        sizes = {}
        with os.scandir(os.path.join(self._backend.root, "events")) as entries:
            for entry in entries:
                if entry.name.endswith(".jsonl"):
                    sizes[entry.name[: -len(".jsonl")]] = entry.stat().st_size
        return sizes
