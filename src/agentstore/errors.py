"""The error family of agentstore.

Every error a store raises derives from :class:`AgentStoreError`, whatever the backend, so
callers catch one family instead of each driver's own. Errors caused by bad input are also
``ValueError`` subclasses, so code written against the standard library's conventions
keeps working. Each error carries the facts it reports as attributes.
"""

from __future__ import annotations

__all__ = [
    "AgentStoreError",
    "ConcurrencyError",
    "CorruptLogError",
    "InvalidArgumentError",
    "InvalidEventError",
    "InvalidSessionIdError",
    "SessionExistsError",
    "SessionNotFoundError",
    "StorageError",
    "StoreClosedError",
    "StoreVersionError",
]


class AgentStoreError(Exception):
    """Base class of every error raised by agentstore."""


class SessionNotFoundError(AgentStoreError, LookupError):
    """The session does not exist in this store."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"session {session_id!r} not found")
        self.session_id = session_id


class SessionExistsError(AgentStoreError):
    """A session with this id already exists."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"session {session_id!r} already exists")
        self.session_id = session_id


class ConcurrencyError(AgentStoreError):
    """An append's ``expected_seq`` did not match the session's last seq; nothing was written."""

    def __init__(self, session_id: str, *, expected: int, actual: int) -> None:
        super().__init__(
            f"session {session_id!r}: expected last seq {expected}, but it is {actual}"
        )
        self.session_id = session_id
        self.expected = expected
        self.actual = actual


class InvalidEventError(AgentStoreError, ValueError):
    """An event cannot be stored: its payload or metadata is not plain JSON, or its type is bad.

    ``path`` locates the offending value inside the event, e.g. ``payload['steps'][2]``.
    """

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.reason = message


class InvalidSessionIdError(AgentStoreError, ValueError):
    """A session id is not 1-128 characters of ``A-Za-z0-9._-`` not starting with ``.`` or ``-``."""


class InvalidArgumentError(AgentStoreError, ValueError):
    """An argument is out of range or of the wrong type (a negative seq, a bad limit, ...)."""


class CorruptLogError(AgentStoreError):
    """Stored data cannot be read back as written; ``path``, ``line`` and ``reason`` say where."""

    def __init__(self, path: str, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


class StorageError(AgentStoreError, OSError):
    """The storage failed (a full disk, a file that cannot be read or written).

    Also an ``OSError``, with the ``errno`` of the failure; the original error is its
    ``__cause__``.
    """

    def __str__(self) -> str:
        if self.strerror is None:
            return super().__str__()
        # The message names the store and quotes its cause; the errno is ``.errno``, not
        # an "[Errno N]" before it, whichever backend failed (a driver's words have none).
        return self.strerror


class StoreClosedError(AgentStoreError):
    """The store was closed; open a new one to keep working."""

    def __init__(self) -> None:
        super().__init__("the store is closed")


class StoreVersionError(AgentStoreError):
    """The store's format is newer than this agentstore reads: upgrade agentstore to open it.

    Raised when a store is opened, before anything is read or written. ``found`` is the
    version of the store's format, ``supported`` the newest this library knows.
    """

    def __init__(self, where: str, *, found: int, supported: int) -> None:
        super().__init__(
            f"{where}: the store's format is version {found}, newer than version "
            f"{supported}, the newest this agentstore reads; upgrade agentstore to open it"
        )
        self.where = where
        self.found = found
        self.supported = supported
