"""Live feeds of a JSONL directory.

Appends in this process wake the feeds at once; appends by other processes are found by
looking at the log files every ``poll_interval`` seconds (an ``fstat`` per watched log,
or one directory scan for a feed of all sessions), so a feed costs nothing while the logs
are quiet and never reads a line twice.
"""

from __future__ import annotations

import os
from typing import Protocol

from agentstore.backends.base import Subscription
from agentstore.backends.jsonl.log import SessionLog
from agentstore.backends.polling import Poller
from agentstore.errors import SessionNotFoundError
from agentstore.events import Event
from agentstore.sessions import Session

__all__ = ["FilePoller", "Logs"]


class Logs(Protocol):
    """What the feeds read of a JSONL directory (:class:`JsonlBackend` is one)."""

    root: str

    def get_session(self, session_id: str) -> Session: ...

    def last_seq(self, session_id: str) -> int: ...

    def read(
        self, session_id: str, *, from_seq: int = 1, to_seq: int | None = None
    ) -> list[Event]: ...

    def log_of(self, session_id: str) -> SessionLog: ...


class FilePoller(Poller):
    """The feeds of one JSONL directory."""

    def __init__(self, backend: Logs, interval: float) -> None:
        super().__init__(interval)
        self._backend = backend

    def subscribe(self, session_id: str | None) -> Subscription:
        """Open a feed of the events appended from now on."""
        return self.feed(_FileFeed(self._backend, session_id).new_events)


class _FileFeed:
    """What one feed has seen of the directory's logs."""

    def __init__(self, backend: Logs, session_id: str | None) -> None:
        self._backend = backend
        self._session_id = session_id
        if session_id is not None:
            self._next_seq = backend.last_seq(session_id) + 1
        else:
            # Where each log stood when the feed started: a byte offset at a line's end
            # (cheap for any number of logs); after the first read, the next seq.
            self._sizes = self._log_sizes()
            self._offsets = {sid: self._complete_end(sid) for sid in self._sizes}
            self._next: dict[str, int] = {}

    def new_events(self) -> list[Event]:
        """The events appended since the last call."""
        if self._session_id is not None:
            events = self._backend.read(self._session_id, from_seq=self._next_seq)
            if events:
                self._next_seq = events[-1].seq + 1
            return events
        found: list[Event] = []
        sizes = self._log_sizes()
        for session_id, size in list(sizes.items()):  # entries are dropped on the way
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
