"""The SQLite backend's connections: each lent to one call at a time, kept for the next.

A ``sqlite3`` connection serves one thread at a time; opening one costs more than most
calls, so up to eight are kept between calls. Closing the pool, or
a fork (see :mod:`agentstore.backends.forked`), waits for the connections lent to come
back.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from agentstore.errors import StoreClosedError

__all__ = ["ConnectionPool"]


class ConnectionPool:
    """Connections lent to one operation at a time; closing waits for the ones lent."""

    _IDLE = 8  # connections kept between operations; more are closed when returned

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._idle: list[sqlite3.Connection] = []
        self._lent = 0
        self._closed = False
        self._paused = False  # a fork waits for the connections lent to come back
        self._changed = threading.Condition()

    @contextmanager
    def lend(self) -> Iterator[sqlite3.Connection]:
        """A connection for the ``with`` block, idle or new.

        Raises:
            StoreClosedError: the pool is closed.
        """
        with self._changed:
            while self._paused:
                self._changed.wait()
            if self._closed:
                raise StoreClosedError()
            self._lent += 1
            db = self._idle.pop() if self._idle else None
        try:
            if db is None:
                db = self._connect()
            yield db
        finally:
            self._give_back(db)

    def _give_back(self, db: sqlite3.Connection | None) -> None:
        with self._changed:
            self._lent -= 1
            keep = db is not None and not self._closed and len(self._idle) < self._IDLE
            if keep and db is not None and not db.in_transaction:
                self._idle.append(db)
                db = None
            if self._closed or self._paused:
                self._changed.notify_all()  # close() or a fork waits for the last one back
        if db is not None:
            db.close()

    def pause(self, longest: float) -> None:
        """Lend nothing until :meth:`resume`; wait (``longest`` s at most) for those lent."""
        with self._changed:
            self._paused = True
            self._changed.wait_for(lambda: self._lent == 0, timeout=longest)

    def resume(self) -> None:
        """Lend connections again."""
        with self._changed:
            self._paused = False
            self._changed.notify_all()

    def close(self) -> None:
        """Refuse new loans, wait (10 s at most) for the lent connections, close all."""
        with self._changed:
            self._closed = True
            self._changed.wait_for(lambda: self._lent == 0, timeout=10)
            idle, self._idle = self._idle, []
        for db in idle:
            db.close()
