"""PostgreSQL notifications: the connection that LISTENs, and the notices it keeps.

Every commit that appends events notifies ``<first seq> <last seq> <session id>`` on the
store's channel; the listener records it and wakes the feeds. A marker notification
(``mark <token>``) tells a new feed of all sessions where the notices after its start
begin, since notifications arrive in commit order but late.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from typing import Any, Protocol

import psycopg
from psycopg import sql

from agentstore.backends.polling import Poller
from agentstore.errors import StorageError

__all__ = [
    "MARK_WAIT",
    "WAKE",
    "Listener",
    "Listening",
    "Notices",
    "mark_notice",
    "commit_notice",
    "silent_channel",
]

WAKE = "wake"  # a notification that only wakes the listener (to let it stop)
MARK_WAIT = 10  # seconds a marker may take to come back before the channel counts as dead


def commit_notice(session_id: str, first: int, last: int) -> str:
    """The notification of a commit of seqs ``first`` to ``last`` (as append_events sends)."""
    return f"{first} {last} {session_id}"


def mark_notice(token: str) -> str:
    """The notification of the marker ``token`` (see :meth:`Notices.new_mark`)."""
    return f"mark {token}"


def silent_channel() -> StorageError:
    """The error of a marker that did not come back within :data:`MARK_WAIT` seconds."""
    return StorageError(0, "PostgreSQL: the notification channel does not answer")


class Notices:
    """The (session, first seq, last seq) of commits notified lately, for feeds of all."""

    _KEEP = 100_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._base = 0  # the number of notices dropped from the front
        self._items: list[tuple[str, int, int]] = []
        self._marks: dict[str, tuple[threading.Event, int]] = {}

    def new_mark(self) -> tuple[str, threading.Event]:
        """A new marker's token, and the flag set when it arrives (see :meth:`expect`)."""
        token = uuid.uuid4().hex
        return token, self.expect(token)

    def expect(self, token: str) -> threading.Event:
        """A flag set when the marker ``token`` arrives."""
        arrived = threading.Event()
        with self._lock:
            self._marks[token] = (arrived, 0)
        return arrived

    def mark(self, token: str) -> None:
        with self._lock:
            waiting = self._marks.get(token)
            if waiting is not None:
                self._marks[token] = (waiting[0], self._base + len(self._items))
                waiting[0].set()

    def marked(self, token: str) -> int:
        """Where the notices stood when the marker arrived."""
        with self._lock:
            return self._marks.pop(token)[1]

    def take(self, payload: str) -> bool:
        """Record a notification; return whether it announces new events (feeds wake)."""
        parts = payload.split(" ", 2)
        if parts[0] == WAKE:
            return False
        if parts[0] == "mark":
            self.mark(parts[1])
            return False
        first, last, session_id = parts
        self.add(session_id, int(first), int(last))
        return True

    def add(self, session_id: str, first: int, last: int) -> None:
        with self._lock:
            self._items.append((session_id, first, last))
            if len(self._items) > self._KEEP:
                drop = len(self._items) // 2
                del self._items[:drop]
                self._base += drop

    def end(self) -> int:
        with self._lock:
            return self._base + len(self._items)

    def since(self, cursor: int) -> tuple[int, list[tuple[str, int, int]]]:
        with self._lock:
            start = max(cursor - self._base, 0)
            return self._base + len(self._items), self._items[start:]


class _Poller(Protocol):
    def notify(self) -> None: ...


class Listening:
    """What a listener does, sync or async, besides reading its connection.

    It LISTENs on ``channel`` (:attr:`statement`), records each notification in
    ``notices`` and wakes the feeds of ``poller`` when one announces events; after its
    connection dropped it tries again every :attr:`retry` seconds.
    """

    retry = 0.5
    #: Whether a marker wakes the feeds too (the async backend's marking waits on them).
    wakes_on_marks = False

    def __init__(self, url: str, channel: str, notices: Notices, poller: _Poller) -> None:
        self._url = url
        self._notices = notices
        self._poller = poller
        self.statement = sql.SQL("LISTEN {}").format(sql.Identifier(channel))

    def deliver(self, payload: str) -> None:
        """Record a notification; wake the feeds if it announces events."""
        if self._notices.take(payload) or (self.wakes_on_marks and payload.startswith("mark ")):
            self._poller.notify()

    def listening_again(self) -> None:
        """Wake the feeds after a new connection listens: notices may have been lost."""
        self._poller.notify()  # session feeds look again by seq


class Listener(Listening):
    """A connection that LISTENs for commits and wakes the feeds."""

    def __init__(self, url: str, channel: str, notices: Notices, poller: Poller) -> None:
        super().__init__(url, channel, notices, poller)
        self._connection = self._listen()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="agentstore-listen", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                for arrived in self._connection.notifies(timeout=0.1):  # close waits that long
                    if self._stopped.is_set():
                        return
                    self.deliver(arrived.payload)
            except psycopg.Error:
                if self._stopped.is_set():
                    return
                self._reconnect()

    def _listen(self) -> psycopg.Connection[Any]:
        connection = psycopg.connect(self._url, autocommit=True)
        connection.execute(self.statement)
        return connection

    def _reconnect(self) -> None:
        """Listen again on a new connection; the feeds poll meanwhile, then look again."""
        with contextlib.suppress(psycopg.Error):
            self._connection.close()
        while not self._stopped.wait(self.retry):
            try:
                self._connection = self._listen()
            except psycopg.Error:
                continue
            self.listening_again()
            return

    def stop(self) -> None:
        """Ask the thread to stop at its next wake-up."""
        self._stopped.set()

    def close(self) -> None:
        """Stop the thread and close the connection."""
        self._stopped.set()
        self._thread.join(timeout=2)
        self._connection.close()
