"""Read-only stores: every write of the backend contract refused, in one place.

A store opened with ``read_only=True`` (or over a backend opened read-only) keeps its
backend behind :class:`ReadOnlyBackend`, or :class:`AsyncReadOnlyBackend` for the async
face. Reads pass through; every method that would change stored data raises
:class:`~agentstore.ReadOnlyStoreError` before the backend is called. Whatever writes (an
append, a session created, updated or deleted, a fork, a snapshot, a copy into the
store), on either face, it is one of these methods, so no write reaches the data.

The backend behind it was opened read-only too, so that opening created, migrated and
wrote nothing (no directory, no table, no schema): this module only guards what comes
after. A method added to the contract joins :data:`PASSED_ON` (a read) or :data:`REFUSED`
(a write) here; ``tests/test_read_only.py`` fails for one that is in neither.
"""

from __future__ import annotations

from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, NoReturn, TypeVar

from agentstore.backends.base import (
    AppendRequest,
    AsyncBackend,
    AsyncSubscription,
    Backend,
    Problem,
    Subscription,
)
from agentstore.errors import AgentStoreError, ReadOnlyStoreError
from agentstore.events import Event
from agentstore.sessions import Session, SessionUpdate
from agentstore.state import Snapshot

__all__ = ["PASSED_ON", "REFUSED", "AsyncReadOnlyBackend", "ReadOnlyBackend"]

#: The methods of the backend contracts a read-only store passes on: the reads, and close.
PASSED_ON = frozenset(
    {
        "get_session",
        "list_sessions",
        "read",
        "read_page",
        "last_seq",
        "read_snapshot",
        "subscribe",
        "check",
        "close",
    }
)
#: The methods that change stored data: a read-only store refuses each of them.
REFUSED = frozenset(
    {
        "create_session",
        "update_session",
        "delete_session",
        "append",
        "append_one",
        "append_many",
        "import_events",
        "write_snapshot",
    }
)

_R = TypeVar("_R")
Awaited = Coroutine[Any, Any, _R]


def _refuse(operation: str) -> NoReturn:
    raise ReadOnlyStoreError(operation)


class ReadOnlyBackend(Backend):
    """A backend's reads, and a :class:`~agentstore.ReadOnlyStoreError` for every write.

    Args:
        backend: the backend read (opened read-only, so that opening wrote nothing).
    """

    read_only = True
    commits_many = False

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    @classmethod
    def of(cls, backend: Backend) -> ReadOnlyBackend:
        """``backend`` behind a ReadOnlyBackend (itself, if it already is one)."""
        return backend if isinstance(backend, ReadOnlyBackend) else cls(backend)

    # Reads

    def get_session(self, session_id: str) -> Session:
        return self.backend.get_session(session_id)

    def list_sessions(
        self, *, limit: int, offset: int, labels: Mapping[str, str] | None
    ) -> list[Session]:
        return self.backend.list_sessions(limit=limit, offset=offset, labels=labels)

    def read(self, session_id: str, *, from_seq: int = 1, to_seq: int | None = None) -> list[Event]:
        return self.backend.read(session_id, from_seq=from_seq, to_seq=to_seq)

    def read_page(
        self,
        session_id: str,
        *,
        from_seq: int,
        to_seq: int | None,
        limit: int,
        cursor: int | None = None,
    ) -> tuple[list[Event], int | None]:
        return self.backend.read_page(
            session_id, from_seq=from_seq, to_seq=to_seq, limit=limit, cursor=cursor
        )

    def last_seq(self, session_id: str) -> int:
        return self.backend.last_seq(session_id)

    def read_snapshot(self, session_id: str) -> Snapshot | None:
        return self.backend.read_snapshot(session_id)

    def subscribe(self, session_id: str | None) -> Subscription:
        return self.backend.subscribe(session_id)

    def check(self, session_id: str) -> list[Problem]:
        return self.backend.check(session_id)

    def close(self) -> None:
        self.backend.close()

    # Writes

    def create_session(self, session: Session, history: Sequence[Event] = ()) -> Session:
        _refuse("create_session")

    def update_session(self, session_id: str, update: SessionUpdate) -> Session:
        _refuse("update_session")

    def delete_session(self, session_id: str) -> Session:
        _refuse("delete_session")

    def append(
        self, session_id: str, events: Sequence[Event], *, expected_seq: int | None
    ) -> list[Event]:
        _refuse("append")

    def append_one(self, session_id: str, event: Event, *, expected_seq: int | None) -> Event:
        _refuse("append")

    def append_many(self, requests: Sequence[AppendRequest]) -> list[list[Event] | AgentStoreError]:
        # As the contract has it: each request's error in its place.
        return [ReadOnlyStoreError("append") for _ in requests]

    def import_events(self, session_id: str, events: Sequence[Event]) -> None:
        _refuse("import_events")

    def write_snapshot(self, snapshot: Snapshot) -> None:
        _refuse("write_snapshot")


class AsyncReadOnlyBackend(AsyncBackend):
    """An async backend's reads, and a :class:`~agentstore.ReadOnlyStoreError` for every write.

    A read returns the backend's own coroutine (one coroutine a call, not two); a write
    raises when awaited.

    Args:
        backend: the async backend read (opened read-only).
    """

    read_only = True

    def __init__(self, backend: AsyncBackend) -> None:
        self.backend = backend
        # The memory backend's, which the async store calls without awaiting: read-only too.
        self.inline = None if backend.inline is None else ReadOnlyBackend.of(backend.inline)

    @classmethod
    def of(cls, backend: AsyncBackend) -> AsyncReadOnlyBackend:
        """``backend`` behind an AsyncReadOnlyBackend (itself, if it already is one)."""
        return backend if isinstance(backend, AsyncReadOnlyBackend) else cls(backend)

    # Reads

    def get_session(self, session_id: str) -> Awaited[Session]:
        return self.backend.get_session(session_id)

    def list_sessions(
        self, *, limit: int, offset: int, labels: Mapping[str, str] | None
    ) -> Awaited[list[Session]]:
        return self.backend.list_sessions(limit=limit, offset=offset, labels=labels)

    def read(
        self, session_id: str, *, from_seq: int = 1, to_seq: int | None = None
    ) -> Awaited[list[Event]]:
        return self.backend.read(session_id, from_seq=from_seq, to_seq=to_seq)

    def read_page(
        self,
        session_id: str,
        *,
        from_seq: int,
        to_seq: int | None,
        limit: int,
        cursor: int | None = None,
    ) -> Awaited[tuple[list[Event], int | None]]:
        return self.backend.read_page(
            session_id, from_seq=from_seq, to_seq=to_seq, limit=limit, cursor=cursor
        )

    def last_seq(self, session_id: str) -> Awaited[int]:
        return self.backend.last_seq(session_id)

    def read_snapshot(self, session_id: str) -> Awaited[Snapshot | None]:
        return self.backend.read_snapshot(session_id)

    def subscribe(self, session_id: str | None) -> Awaited[AsyncSubscription]:
        return self.backend.subscribe(session_id)

    def check(self, session_id: str) -> Awaited[list[Problem]]:
        return self.backend.check(session_id)

    def close(self) -> Awaited[None]:
        return self.backend.close()

    # Writes

    async def create_session(self, session: Session, history: Sequence[Event] = ()) -> Session:
        _refuse("create_session")

    async def update_session(self, session_id: str, update: SessionUpdate) -> Session:
        _refuse("update_session")

    async def delete_session(self, session_id: str) -> Session:
        _refuse("delete_session")

    async def append(
        self, session_id: str, events: Sequence[Event], *, expected_seq: int | None
    ) -> list[Event]:
        _refuse("append")

    async def append_one(self, session_id: str, event: Event, *, expected_seq: int | None) -> Event:
        _refuse("append")

    async def import_events(self, session_id: str, events: Sequence[Event]) -> None:
        _refuse("import_events")

    async def write_snapshot(self, snapshot: Snapshot) -> None:
        _refuse("write_snapshot")
