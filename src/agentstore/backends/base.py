"""The storage interface every backend implements.

A backend stores sessions, their append-only event logs and one snapshot per session. It
works on events the store has already checked and prepared, and it numbers them with the
rules of :mod:`agentstore.core.sequencing` while holding its own lock (a mutex, a file lock or a
database row lock), so every backend gives the same answers. Everything else (argument
checks, reducers, the state cache, snapshot policy, replay filters, forks) lives in
:class:`agentstore.Store`, once for all backends.
"""

from __future__ import annotations

import functools
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from agentstore.errors import AgentStoreError, StorageError
from agentstore.events import Event
from agentstore.sessions import Session, SessionUpdate
from agentstore.state import Snapshot

__all__ = [
    "AppendRequest",
    "AsyncBackend",
    "AsyncSubscription",
    "Backend",
    "Problem",
    "Subscription",
    "matches_labels",
    "translating",
]

_Method = TypeVar("_Method", bound=Callable[..., Any])

#: One append of :meth:`Backend.append_many`: the session, its events, its expected seq.
AppendRequest = tuple[str, Sequence[Event], int | None]


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong in a session's stored data.

    ``where`` is ``path:line`` for files or ``session <id> seq <n>`` for databases.
    ``severity`` is ``"error"`` for damage, or ``"warning"`` for what the store repairs by
    itself (the torn tail a crash leaves, which the next write to the session removes).
    """

    session_id: str
    where: str
    reason: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


class Subscription(ABC):
    """A live feed of events appended after it was opened (see :meth:`Backend.subscribe`)."""

    @abstractmethod
    def wait(self, timeout: float | None) -> list[Event] | None:
        """Return the events appended since the last call, waiting up to ``timeout`` seconds.

        Returns an empty list when the time runs out and None once the subscription or its
        backend is closed.
        """

    @abstractmethod
    def close(self) -> None:
        """Stop the feed and release what it holds; later waits return None."""


class Backend(ABC):
    """Where a store keeps its sessions, events and snapshots."""

    #: Whether the backend was opened read-only (it created and migrated nothing): a
    #: store over it refuses every write (:mod:`agentstore.backends.read_only`).
    read_only = False

    @abstractmethod
    def create_session(self, session: Session, history: Sequence[Event] = ()) -> Session:
        """Create ``session`` with ``history`` (stamped events, seqs 1..N) in one step.

        Raises:
            SessionExistsError: a session with this id exists.
        """

    @abstractmethod
    def get_session(self, session_id: str) -> Session:
        """Return the session with its current ``event_count`` and ``updated_at``.

        Raises:
            SessionNotFoundError: no such session.
        """

    @abstractmethod
    def list_sessions(
        self, *, limit: int, offset: int, labels: Mapping[str, str] | None
    ) -> list[Session]:
        """Return sessions newest first, keeping those with all ``labels``, then paging."""

    @abstractmethod
    def update_session(self, session_id: str, update: SessionUpdate) -> Session:
        """Apply ``update`` to the session as stored (:meth:`SessionUpdate.apply`) and return it.

        Under the backend's lock, so that concurrent updates all hold; the event count and
        ``updated_at`` are unchanged.

        Raises:
            SessionNotFoundError: no such session.
        """

    @abstractmethod
    def delete_session(self, session_id: str) -> Session:
        """Remove the session, its events and its snapshot, all or none; return it as it was.

        A crash at any point leaves either the whole session or none of it readable, and
        an append racing the deletion either lands before it (and is deleted) or fails
        with SessionNotFoundError: none is acknowledged and then lost. Forks, which hold
        copies of their parent's events, are not touched.

        Raises:
            SessionNotFoundError: no such session.
        """

    @abstractmethod
    def append(
        self, session_id: str, events: Sequence[Event], *, expected_seq: int | None
    ) -> list[Event]:
        """Append prepared events atomically and return them as stored, in order.

        Under the session's lock: events whose id the session holds are returned as stored
        and not written again (:func:`~agentstore.core.sequencing.resolve`); if any event is new
        and ``expected_seq`` is given, it must equal the last seq
        (:func:`~agentstore.core.sequencing.check_expected_seq`); the new events are stamped
        (:func:`~agentstore.core.sequencing.stamp`) and written, all or none.

        Raises:
            SessionNotFoundError: no such session.
            ConcurrencyError: ``expected_seq`` is not the last seq; nothing was written.
        """

    def append_one(self, session_id: str, event: Event, *, expected_seq: int | None) -> Event:
        """Append one prepared event (see :meth:`append`); override it for a faster path."""
        return self.append(session_id, (event,), expected_seq=expected_seq)[0]

    #: Whether :meth:`append_many` commits several appends together (cheaper than one
    #: by one); the async store then hands it the appends of concurrent tasks at once.
    commits_many = False
    #: How many such commits may run at once (SQLite writes one transaction at a time;
    #: the logs of a JSONL directory are synced each on its own).
    parallel_commits = 1

    def append_many(self, requests: Sequence[AppendRequest]) -> list[list[Event] | AgentStoreError]:
        """Make several appends, each all or none; return each one's events or its error.

        An error of one request (an unknown session, a stale ``expected_seq``) is
        returned in its place and the others go ahead. The default makes them one by one.
        """
        outcomes: list[list[Event] | AgentStoreError] = []
        for session_id, events, expected_seq in requests:
            try:
                outcomes.append(self.append(session_id, events, expected_seq=expected_seq))
            except AgentStoreError as error:
                outcomes.append(error)
        return outcomes

    @abstractmethod
    def import_events(self, session_id: str, events: Sequence[Event]) -> None:
        """Append events stamped elsewhere (a copy), keeping their ids, seqs and times.

        The first seq must follow the session's last, and the seqs must be consecutive.

        Raises:
            SessionNotFoundError: no such session.
            ConcurrencyError: the first seq does not follow the last one stored.
            InvalidEventError: the seqs are not consecutive, or an id is already stored.
        """

    @abstractmethod
    def read(self, session_id: str, *, from_seq: int = 1, to_seq: int | None = None) -> list[Event]:
        """Return the events with ``from_seq <= seq <= to_seq`` (to the end when None), in order.

        Raises:
            SessionNotFoundError: no such session.
        """

    def read_page(
        self,
        session_id: str,
        *,
        from_seq: int,
        to_seq: int | None,
        limit: int,
        cursor: int | None = None,
    ) -> tuple[list[Event], int | None]:
        """Return the first ``limit`` events of :meth:`read`'s range, and a cursor.

        Fewer than ``limit`` events come back only when the range (or the log) ends. The
        cursor is where the page after this one starts, for a backend that can use it
        (a log file's byte offset), or None; the next page's call passes it with
        ``from_seq`` one past this page's last event. A backend checks a cursor before
        trusting it. The default reads the seq range with :meth:`read`: one indexed
        query on a backend that keys events by (session, seq).

        Raises:
            SessionNotFoundError: no such session.
        """
        last = from_seq + limit - 1
        return self.read(session_id, from_seq=from_seq, to_seq=_page_end(last, to_seq)), None

    @abstractmethod
    def last_seq(self, session_id: str) -> int:
        """Return the seq of the session's last event (0 when it has none).

        Raises:
            SessionNotFoundError: no such session.
        """

    @abstractmethod
    def read_snapshot(self, session_id: str) -> Snapshot | None:
        """Return the session's latest snapshot, or None when it has none or it is unusable."""

    @abstractmethod
    def write_snapshot(self, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` as the session's latest, unless a newer one is already kept."""

    @abstractmethod
    def subscribe(self, session_id: str | None) -> Subscription:
        """Open a feed of the events appended from now on, to one session or (None) to all."""

    def check(self, session_id: str) -> list[Problem]:
        """Check how a session is stored, reporting problems rather than raising them.

        For formats that can hold damage a read would stop at (a JSONL log's every line).
        Nothing is repaired. The default finds nothing: a database's own constraints keep
        its rows well formed.
        """
        return []

    @abstractmethod
    def close(self) -> None:
        """Release the backend's resources and end its subscriptions; safe to call twice."""


class AsyncSubscription(ABC):
    """A live feed of events appended after it was opened, awaited on the event loop."""

    @abstractmethod
    async def wait(self, timeout: float | None) -> list[Event] | None:
        """Return the events appended since the last call, waiting up to ``timeout`` seconds.

        Returns an empty list when the time runs out and None once the feed is closed.
        """

    @abstractmethod
    def close(self) -> None:
        """End the feed (from the loop's thread); a waiting :meth:`wait` returns None."""


class AsyncBackend(ABC):
    """Where an async store keeps its data: :class:`Backend`'s methods, as coroutines."""

    #: See :attr:`Backend.read_only`.
    read_only = False

    #: A sync backend whose calls never block, for the store to call directly, or None.
    inline: Backend | None = None

    @abstractmethod
    async def create_session(self, session: Session, history: Sequence[Event] = ()) -> Session:
        """See :meth:`Backend.create_session`."""

    @abstractmethod
    async def get_session(self, session_id: str) -> Session:
        """See :meth:`Backend.get_session`."""

    @abstractmethod
    async def list_sessions(
        self, *, limit: int, offset: int, labels: Mapping[str, str] | None
    ) -> list[Session]:
        """See :meth:`Backend.list_sessions`."""

    @abstractmethod
    async def update_session(self, session_id: str, update: SessionUpdate) -> Session:
        """See :meth:`Backend.update_session`."""

    @abstractmethod
    async def delete_session(self, session_id: str) -> Session:
        """See :meth:`Backend.delete_session`."""

    @abstractmethod
    async def append(
        self, session_id: str, events: Sequence[Event], *, expected_seq: int | None
    ) -> list[Event]:
        """See :meth:`Backend.append`; a cancelled caller leaves all events stored or none."""

    async def append_one(self, session_id: str, event: Event, *, expected_seq: int | None) -> Event:
        """Append one prepared event (see :meth:`append`)."""
        return (await self.append(session_id, (event,), expected_seq=expected_seq))[0]

    @abstractmethod
    async def import_events(self, session_id: str, events: Sequence[Event]) -> None:
        """See :meth:`Backend.import_events`."""

    @abstractmethod
    async def read(
        self, session_id: str, *, from_seq: int = 1, to_seq: int | None = None
    ) -> list[Event]:
        """See :meth:`Backend.read`."""

    async def read_page(
        self,
        session_id: str,
        *,
        from_seq: int,
        to_seq: int | None,
        limit: int,
        cursor: int | None = None,
    ) -> tuple[list[Event], int | None]:
        """See :meth:`Backend.read_page`."""
        last = from_seq + limit - 1
        return await self.read(session_id, from_seq=from_seq, to_seq=_page_end(last, to_seq)), None

    @abstractmethod
    async def last_seq(self, session_id: str) -> int:
        """See :meth:`Backend.last_seq`."""

    @abstractmethod
    async def read_snapshot(self, session_id: str) -> Snapshot | None:
        """See :meth:`Backend.read_snapshot`."""

    @abstractmethod
    async def write_snapshot(self, snapshot: Snapshot) -> None:
        """See :meth:`Backend.write_snapshot`."""

    @abstractmethod
    async def subscribe(self, session_id: str | None) -> AsyncSubscription:
        """Open a feed of the events appended from now on, to one session or (None) to all."""

    async def check(self, session_id: str) -> list[Problem]:
        """See :meth:`Backend.check`."""
        return []

    @abstractmethod
    async def close(self) -> None:
        """Wait for the calls under way, then release everything; safe to call twice."""


def _page_end(last: int, to_seq: int | None) -> int:
    """The last seq of a page: ``last``, or ``to_seq`` when the range ends before."""
    return last if to_seq is None else min(last, to_seq)


def matches_labels(session: Session, labels: Mapping[str, str] | None) -> bool:
    """Return whether ``session`` has every pair of ``labels``."""
    if not labels:
        return True
    have = session.labels
    return all(have.get(key) == value for key, value in labels.items())


def translating(
    errors: tuple[type[BaseException], ...],
    where: Callable[[Any], str],
    *,
    errno: Callable[[Any, BaseException], int] | None = None,
) -> Callable[[_Method], _Method]:
    """A decorator for backend methods, sync or async: the driver's ``errors`` become StorageError.

    The one place a backend translates its driver's failures: StorageError is an
    AgentStoreError and an OSError; ``where(backend)`` names the store in the message,
    and the driver's error is the ``__cause__``. Its ``errno`` is the failure's own, or
    ``errno(backend, error)`` for a driver that words failures in codes of its own.
    """

    def translate(backend: Any, error: BaseException) -> StorageError:
        code = errno(backend, error) if errno is not None else getattr(error, "errno", 0) or 0
        return StorageError(code, f"{where(backend)}: {error}")

    def decorate(method: _Method) -> _Method:
        if inspect.iscoroutinefunction(method):  # an async backend's method

            @functools.wraps(method)
            async def wait(backend: Any, *args: Any, **kwargs: Any) -> Any:
                try:
                    return await method(backend, *args, **kwargs)
                except AgentStoreError:
                    raise
                except errors as error:
                    raise translate(backend, error) from error

            return wait  # type: ignore[return-value]

        @functools.wraps(method)
        def call(backend: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(backend, *args, **kwargs)
            except AgentStoreError:
                raise
            except errors as error:
                raise translate(backend, error) from error

        return call  # type: ignore[return-value]

    return decorate
