"""The ``errno`` of a database driver's failure, for the StorageError it becomes.

A :class:`~agentstore.StorageError` is an ``OSError``, so a caller acts on its ``errno``
whatever the backend: ``ENOSPC`` for a full disk, ``EROFS`` for a read-only one,
``EACCES`` for permissions. The JSONL backend gets it from the operating system; SQLite
and PostgreSQL report the same failures in their own codes, translated here.
"""

from __future__ import annotations

import errno
import os
import sqlite3

__all__ = ["connection_errno", "postgres_errno", "sqlite_errno"]

# SQLite's primary result codes (https://sqlite.org/rescode.html); an extended code
# carries its primary one in its low byte.
_SQLITE: dict[int, int] = {
    3: errno.EACCES,  # SQLITE_PERM
    5: errno.EBUSY,  # SQLITE_BUSY: another connection held the lock past busy_timeout
    6: errno.EBUSY,  # SQLITE_LOCKED
    7: errno.ENOMEM,  # SQLITE_NOMEM
    8: errno.EROFS,  # SQLITE_READONLY
    10: errno.EIO,  # SQLITE_IOERR
    13: errno.ENOSPC,  # SQLITE_FULL
    23: errno.EACCES,  # SQLITE_AUTH
}
_SQLITE_CANTOPEN = 14
_SQLITE_IOERR_NOMEM = 10 | (12 << 8)

# PostgreSQL's SQLSTATEs of the failures an errno names.
_POSTGRES: dict[str, int] = {
    "53100": errno.ENOSPC,  # disk_full
    "53200": errno.ENOMEM,  # out_of_memory
    "58030": errno.EIO,  # io_error
    "25006": errno.EROFS,  # read_only_sql_transaction (a standby)
    "42501": errno.EACCES,  # insufficient_privilege
    "28000": errno.EACCES,  # invalid_authorization_specification
    "28P01": errno.EACCES,  # invalid_password
    "57P01": errno.ECONNRESET,  # admin_shutdown: the session was terminated
    "57P02": errno.ECONNRESET,  # crash_shutdown
    "57P03": errno.ECONNREFUSED,  # cannot_connect_now: starting up or shutting down
}
# libpq words a failed connection with the system's own message (strerror), in the
# language of this process, which os.strerror speaks too.
_NETWORK = (
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.ETIMEDOUT,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.EPIPE,
)


def sqlite_errno(error: BaseException, path: str) -> int:
    """The errno ``error`` stands for; ``path`` is the database file (0: no system cause).

    SQLite says it could not open a file without saying why: the file and its directory
    are looked at for the reason.
    """
    if not isinstance(error, sqlite3.Error):
        return getattr(error, "errno", 0) or 0
    code = getattr(error, "sqlite_errorcode", None)
    if code is None:
        return 0
    if code == _SQLITE_IOERR_NOMEM:
        return errno.ENOMEM
    if code & 0xFF == _SQLITE_CANTOPEN:
        return _open_errno(path)
    return _SQLITE.get(code & 0xFF, 0)


def _open_errno(path: str) -> int:
    """Why ``path`` cannot be opened to read and write, with its journal beside it."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        if os.path.exists(path):
            os.close(os.open(path, os.O_RDWR | os.O_CLOEXEC))
        os.close(os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
    except OSError as failure:
        return failure.errno or errno.EIO
    if not os.access(directory, os.W_OK | os.X_OK):  # where the -wal and -shm files go
        return errno.EACCES
    return errno.EIO  # nothing in the way now: it failed for a reason that passed


def postgres_errno(error: BaseException) -> int:
    """The errno ``error`` (psycopg's, or its pool's) stands for (0: none)."""
    if type(error).__name__ == "PoolTimeout":  # psycopg_pool's: no connection in time
        return errno.ETIMEDOUT
    state = getattr(error, "sqlstate", None)
    if state in _POSTGRES:
        return _POSTGRES[state]
    cause = error.__cause__
    if state is None and cause is not None and cause is not error:
        found = postgres_errno(cause)
        if found:
            return found
    return connection_errno(str(error)) or getattr(error, "errno", 0) or 0


def connection_errno(message: str) -> int:
    """The errno a failed connection's ``message`` (libpq's words) names (0: none)."""
    for code in _NETWORK:
        if os.strerror(code) in message:
            return code
    if "timeout expired" in message:  # libpq's and psycopg's words for connect_timeout
        return errno.ETIMEDOUT
    if "server closed the connection unexpectedly" in message:
        return errno.ECONNRESET
    return 0
