"""Connections to the server, for both faces: the pool's settings, lost connections, outages.

psycopg's pool reconnects by itself, with a delay that doubles after each failed attempt
until its ``reconnect_timeout`` (5 minutes by default) runs out, and a call waits 30 s
for a connection. After a server was away for 20 s, appends resumed 8 s after it was
back, and a call waited 28 s. Here, instead:

- The pool gives up after :data:`RECONNECT_TIMEOUT` (attempts at once, after 1 s, at
  2 s) and tries again when a call next asks for a connection; a call waiting for one
  asks again every :data:`RETRY_EVERY`. So while calls wait, the server is tried about
  every second, and when none do, not at all. An outage ends for the callers within a
  second or so of the server answering again.
- A call waits :data:`CONNECTION_WAIT` at most for a server that does not answer, then
  raises a StorageError that says so (:meth:`Outage.waited`); for a pool whose every
  connection is in use, :data:`BUSY_WAIT`, the pool's usual patience.
- A connection that breaks during a call drains the pool, whose idle connections likely
  broke too (a server restart, a dropped network), and the call runs once more on a new
  connection if the operation allows it (a read; an append, whose ids make a second run
  store nothing twice); see :class:`LostConnection`.
- The pool logs every failed attempt, per connection, as a warning. Those records of our
  pools are kept off the log (:class:`_QuietPools`); one line of ours says the server is
  not answering, one that it answers again.
"""

from __future__ import annotations

import errno
import itertools
import logging
import threading
import time
import weakref
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from agentstore.backends.errnos import connection_errno, postgres_errno
from agentstore.errors import StorageError

__all__ = [
    "BUSY_WAIT",
    "CONNECTION_WAIT",
    "CONNECT_TIMEOUT",
    "RECONNECT_TIMEOUT",
    "RETRY_EVERY",
    "AsyncPooledConnection",
    "LostConnection",
    "Outage",
    "PooledConnection",
    "pool_options",
]

CONNECT_TIMEOUT = 10  # seconds to reach the server when a store opens
RECONNECT_TIMEOUT = 2.0  # seconds the pool keeps trying by itself once a connection failed
RETRY_EVERY = 0.5  # seconds a waiting call leaves the pool before asking again
CONNECTION_WAIT = 5.0  # seconds a call waits for a server that does not answer
BUSY_WAIT = 30.0  # seconds a call waits for a connection while all are in use
RUNS = 3  # a call whose connection breaks runs again on a new one, this many times at most

_POOL_NAME = "agentstore-pool"  # the start of our pools' names, and their threads'
_numbers = itertools.count(1)
_outages: weakref.WeakValueDictionary[str, Outage] = weakref.WeakValueDictionary()

log = logging.getLogger("agentstore")


class PooledConnection(psycopg.Connection[Any]):
    """A connection of an agentstore pool (its class marks the pool's log records as ours)."""


class AsyncPooledConnection(psycopg.AsyncConnection[Any]):
    """An async connection of an agentstore pool (see :class:`PooledConnection`)."""


class LostConnection(psycopg.OperationalError):
    """The connection broke during a call; the pool was drained of the others.

    Raised by a face to itself, which runs the operation once more if it may (else it
    raises :meth:`Outage.in_doubt`). The driver's error is the ``__cause__``.
    """


def pool_options(
    url: str, pool_size: int, outage: Outage, *, read_only: bool = False
) -> dict[str, Any]:
    """The options of either face's pool, up to ``pool_size`` connections.

    Times come back in UTC, and each statement outside a transaction commits by itself
    (an append is one statement: autocommit spares it the round trips of BEGIN and
    COMMIT). A connection attempt gives up after :data:`CONNECTION_WAIT` unless the URL
    says otherwise: a server that drops packets would hold it for two minutes. A
    read-only store's connections are read-only too: the server refuses their writes.
    """
    options = "-c TimeZone=UTC"
    if read_only:
        options += " -c default_transaction_read_only=on"
    kwargs: dict[str, Any] = {"options": options, "autocommit": True}
    if "connect_timeout" not in conninfo_to_dict(url):
        kwargs["connect_timeout"] = int(CONNECTION_WAIT)
    return {
        "min_size": 1,
        "max_size": pool_size,
        "kwargs": kwargs,
        "name": outage.pool_name,
        "timeout": BUSY_WAIT,
        "reconnect_timeout": RECONNECT_TIMEOUT,
    }


class Outage:
    """What one backend knows of its server's answers, for its messages and log lines.

    Args:
        url: the server's connection string (only its host and port are shown).
        where: how messages name the store, ``PostgreSQL (<schema>)``.
    """

    def __init__(self, url: str, where: str) -> None:
        self.server = _server(url)
        self.where = where
        self.pool_name = f"{_POOL_NAME}-{next(_numbers)}"
        self.since: float | None = None  # when the server stopped answering, if it has
        self.reason = ""  # the last failure's words
        self._failures = 0  # the pool's failed attempts counted so far
        self._lock = threading.Lock()
        _outages[self.pool_name] = self
        _QuietPools.install()

    def failed(self, reason: str) -> None:
        """A connection could not be made: the outage starts (logged once) or goes on."""
        with self._lock:
            self.reason = reason or self.reason
            if self.since is not None:
                return
            self.since = time.monotonic()
        log.warning(
            "%s: the server at %s is not answering (%s); calls wait for it up to %g s each, "
            "reconnecting about every second",
            self.where,
            self.server,
            self.reason or "no connection could be made",
            CONNECTION_WAIT,
        )

    def lost(self, error: BaseException) -> None:
        """A connection broke during a call (not yet an outage: a new one may work)."""
        self.reason = _first_line(error)

    def answered(self) -> None:
        """A connection was had: an outage, if one was under way, is over."""
        if self.since is None:  # the usual case, on every call: nothing more
            return
        with self._lock:
            since, self.since = self.since, None
        if since is not None:
            log.warning(
                "%s: the server at %s answers again, after %.1f s",
                self.where,
                self.server,
                time.monotonic() - since,
            )

    def waited(self, started: float, failures: int, size: int) -> float | StorageError:
        """After a call waited since ``started``: how much longer to wait, or its error.

        ``failures`` is the pool's count of failed connection attempts so far (it grew:
        the server is not answering) and ``size`` its number of connections.
        """
        waited = time.monotonic() - started
        if failures > self._failures or self.since is not None:
            self._failures = failures
            self.failed("")
            if waited >= CONNECTION_WAIT:
                return self.not_answering(waited)
            return min(RETRY_EVERY, CONNECTION_WAIT - waited)
        if waited >= BUSY_WAIT:
            return StorageError(
                errno.ETIMEDOUT,
                f"{self.where}: none of the pool's {size} connections to the server at "
                f"{self.server} was free for {waited:.0f} s; a larger pool_size would help",
            )
        return min(CONNECTION_WAIT, BUSY_WAIT - waited)

    def not_answering(self, waited: float) -> StorageError:
        """The error of a call that waited ``waited`` seconds for a server that did not answer."""
        reason = self.reason or "no connection could be made"
        return StorageError(
            connection_errno(reason) or errno.ETIMEDOUT,
            f"{self.where}: the server at {self.server} is not answering ({reason}); "
            f"this call retried for {waited:.0f} s, reconnecting about every second, "
            "and each call retries for as long",
        )

    def in_doubt(self, lost: LostConnection) -> StorageError:
        """The error of a write whose connection broke before its answer came."""
        cause = lost.__cause__ or lost
        return StorageError(
            postgres_errno(cause),
            f"{self.where}: the connection to the server at {self.server} broke before the "
            f"answer came, so the write may or may not have been made ({_first_line(cause)})",
        )


class _QuietPools(logging.Filter):
    """Keeps psycopg_pool's records about our pools off its logger.

    They say, per connection and per attempt, what :class:`Outage` says once. A failed
    attempt's words are kept for the outage's messages.
    """

    installed = False

    @classmethod
    def install(cls) -> None:
        if not cls.installed:
            cls.installed = True
            logging.getLogger("psycopg.pool").addFilter(cls())

    def filter(self, record: logging.LogRecord) -> bool:
        if not _ours(record):
            return True
        args = record.args if isinstance(record.args, tuple) else ()
        if str(record.msg).startswith("error connecting in") and len(args) == 2:
            outage = _outages.get(str(args[0]))
            if outage is not None:
                outage.failed(_first_line(args[1]))
        return False


def _ours(record: logging.LogRecord) -> bool:
    if record.threadName and record.threadName.startswith(_POOL_NAME):
        return True  # a thread of one of our pools
    message = record.getMessage()
    return _POOL_NAME in message or __name__ in message  # a pool's name, a connection's class


def _server(url: str) -> str:
    parts = conninfo_to_dict(url)
    return f"{parts.get('host') or 'localhost'}:{parts.get('port') or 5432}"


def _first_line(error: object) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def run_again(outage: Outage, lost: LostConnection, *, repeatable: bool, runs: int) -> None:
    """Return if a call whose connection broke after ``runs`` runs may run again; else raise.

    A call that could store something twice is not run again: it raises the outage's
    "may or may not have been made" error. One that broke ``RUNS`` times raises ``lost``.
    """
    if not repeatable:
        raise outage.in_doubt(lost) from lost.__cause__
    if runs >= RUNS:  # connections keep breaking: an outage, said as one
        raise lost
