"""The store calls of :class:`~agentstore.integrations.langgraph.AgentStoreSaver`.

A saver's operations are written once, as coroutines that await a :class:`Port`: over an
``AsyncStore`` the port awaits the store; over a ``Store`` it calls it and never suspends,
so :func:`run` drives such a coroutine to its end at once, in the calling thread.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from agentstore.aio import AsyncStore
from agentstore.errors import SessionNotFoundError
from agentstore.events import Event
from agentstore.ids import validate_session_id
from agentstore.sessions import Session
from agentstore.store import Store

__all__ = ["SOURCE_LABELS", "THREAD_LABEL", "Port", "run", "session_id_of"]

_T = TypeVar("_T")

SOURCE_LABELS = {"source": "langgraph"}
THREAD_LABEL = "langgraph.thread_id"
"""The label holding a session's LangGraph thread id."""


def session_id_of(thread_id: str) -> str:
    """The agentstore session id of a thread (the same in every process).

    The thread id itself if it is a valid session id, else ``langgraph-`` and 40 hex
    digits of its SHA-256.
    """
    with contextlib.suppress(Exception):
        return validate_session_id(thread_id)
    return "langgraph-" + hashlib.sha256(thread_id.encode()).hexdigest()[:40]


def run(flow: Coroutine[Any, Any, _T]) -> _T:
    """Run a flow that never waits (its port is over a Store or in-memory store) at once."""
    try:
        flow.send(None)
    except StopIteration as finished:
        return finished.value  # type: ignore[no-any-return]
    flow.close()
    raise RuntimeError("a checkpointer call waited on an event loop it cannot run")


class Port:
    """The store calls the saver's flows await: direct on an AsyncStore; on a Store, sync
    calls inside coroutines that never suspend (run with :func:`run` or in a thread)."""

    def __init__(self, store: Store | AsyncStore) -> None:
        self.store = store

    async def read(self, session_id: str, start: int, end: int | None = None) -> list[Event]:
        store = self.store
        if isinstance(store, AsyncStore):
            return await store.replay(session_id, from_seq=start, to_seq=end)
        return store.replay(session_id, from_seq=start, to_seq=end)

    async def append(self, session_id: str, events: Sequence[Event], thread_id: str) -> list[Event]:
        try:
            return await self._append(session_id, events)
        except SessionNotFoundError:
            labels = {**SOURCE_LABELS, THREAD_LABEL: thread_id}
            await self._create(session_id, labels)
            return await self._append(session_id, events)

    async def _append(self, session_id: str, events: Sequence[Event]) -> list[Event]:
        store = self.store
        if isinstance(store, AsyncStore):
            return await store.append_batch(session_id, events)
        return store.append_batch(session_id, events)

    async def _create(self, session_id: str, labels: Mapping[str, str]) -> None:
        store = self.store
        if isinstance(store, AsyncStore):
            await store.create_session(id=session_id, labels=labels, exist_ok=True)
        else:
            store.create_session(id=session_id, labels=labels, exist_ok=True)

    async def delete(self, session_id: str) -> None:
        store = self.store
        with contextlib.suppress(SessionNotFoundError):
            if isinstance(store, AsyncStore):
                await store.delete_session(session_id)
            else:
                store.delete_session(session_id)

    async def fork(self, source: str, target: str, labels: Mapping[str, str]) -> None:
        store = self.store
        if isinstance(store, AsyncStore):
            last = (await store.get_session(source)).event_count
            await store.fork(source, at_seq=last, id=target, labels=labels)
        else:
            last = store.get_session(source).event_count
            store.fork(source, at_seq=last, id=target, labels=labels)

    async def sessions(self) -> list[Session]:
        store = self.store
        if isinstance(store, AsyncStore):
            return await store.list_sessions(limit=None, labels=SOURCE_LABELS)
        return store.list_sessions(limit=None, labels=SOURCE_LABELS)
