"""The error family of agentstore.

Every error a store raises derives from :class:`AgentStoreError`, whatever the backend, so
callers catch one family instead of each driver's own. Errors caused by bad input are also
``ValueError`` subclasses, so code written against the standard library's conventions
keeps working. Each error carries the facts it reports as attributes.
"""

from __future__ import annotations

__all__ = [
    "AccessDeniedError",
    "AgentStoreError",
    "ConcurrencyError",
    "CorruptLogError",
    "EventLoopError",
    "InvalidArgumentError",
    "InvalidEventError",
    "InvalidSessionIdError",
    "ReadOnlyStoreError",
    "SessionExistsError",
    "SessionNotFoundError",
    "StorageError",
    "StoreClosedError",
    "StoreNotFoundError",
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


class StoreNotFoundError(AgentStoreError, LookupError):
    """There is no agentstore store at the target opened read-only; nothing was created.

    ``where`` names the target (a directory, a file, a PostgreSQL schema), ``reason``
    what was found there instead.
    """

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"no store at {where}: {reason}")
        self.where = where
        self.reason = reason


class ReadOnlyStoreError(AgentStoreError):
    """The store was opened read-only, and a write was asked of it; nothing was written.

    ``operation`` names the write refused (``append``, ``create_session``, ...).
    """

    def __init__(self, operation: str) -> None:
        super().__init__(
            f"the store was opened read-only: {operation} is refused "
            "(open it without read_only=True to write)"
        )
        self.operation = operation


class StoreVersionError(AgentStoreError):
    """The store's format is newer than this agentstore reads: upgrade agentstore to open it.

    Raised when a store is opened, before anything is read or written. ``found`` is the
    version of the store's format, ``supported`` the newest this library knows. Also
    raised, with ``found`` below ``supported``, when a store of an older format that this
    agentstore cannot read as it is is opened read-only: a writable open migrates it.
    """

    def __init__(self, where: str, *, found: int, supported: int) -> None:
        if found > supported:
            message = (
                f"{where}: the store's format is version {found}, newer than version "
                f"{supported}, the newest this agentstore reads; upgrade agentstore to open it"
            )
        else:
            message = (
                f"{where}: the store's format is version {found}, older than version "
                f"{supported}, which this agentstore reads; a read-only open migrates "
                "nothing: open it once without read_only to migrate it"
            )
        super().__init__(message)
        self.where = where
        self.found = found
        self.supported = supported


class EventLoopError(AgentStoreError, RuntimeError):
    """An :class:`~agentstore.aio.AsyncStore` was awaited on another event loop than its own.

    Its files' worker threads and its database connections answer on the loop it was
    opened on (``store.loop``). Await its calls there, handing them over from another
    loop with :func:`asyncio.run_coroutine_threadsafe`, or open a store on each loop.
    """

    def __init__(self) -> None:
        super().__init__(
            "this AsyncStore belongs to the event loop it was opened on and was awaited on "
            "another: await it on its own loop (store.loop; from another loop, hand the "
            "call over with asyncio.run_coroutine_threadsafe) or open a store on this loop"
        )


class AccessDeniedError(AgentStoreError, PermissionError):
    """A store's server refused the request's token (none, or not one it accepts).

    Raised by a store opened over HTTP (``agentstore.open("http://...", token=...)``). A
    read-only token's write is refused with :class:`ReadOnlyStoreError` instead, as a
    store opened read-only refuses it.
    """


def missing_extra(missing: ModuleNotFoundError, extra: str, needed_by: str) -> ModuleNotFoundError:
    """The error to raise for ``missing``, naming the extra of agentstore that installs it.

    ``needed_by`` is the part of agentstore that imports it. Raise the error ``from None``:
    it says what the bare "No module named ..." leaves out.
    """
    return ModuleNotFoundError(
        f"{missing}: {needed_by} needs the {extra} extra: pip install 'agentstore[{extra}]'",
        name=missing.name,
    )
