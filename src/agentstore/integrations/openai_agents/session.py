"""The conversation of an OpenAI Agents SDK session, kept as agentstore events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, ParamSpec, TypeVar

import orjson
import pydantic

from agentstore.errors import missing_extra

try:
    from agents.items import TResponseInputItem
    from agents.memory import SessionSettings
    from agents.memory.session_settings import resolve_session_limit
except ModuleNotFoundError as missing:
    raise missing_extra(missing, "openai-agents", "agentstore.integrations.openai_agents") from None

from agentstore.aio import AsyncStore
from agentstore.aio.loops import on_loop
from agentstore.backends import MemoryBackend
from agentstore.errors import (
    ConcurrencyError,
    InvalidArgumentError,
    SessionExistsError,
    SessionNotFoundError,
)
from agentstore.events import Event, new_event
from agentstore.ids import validate_session_id
from agentstore.sessions import check_labels, check_name
from agentstore.store import Store

__all__ = [
    "CONVERSATION_CLEAR",
    "CONVERSATION_ITEMS",
    "CONVERSATION_POP",
    "SOURCE_LABELS",
    "AgentStoreSession",
]

CONVERSATION_ITEMS = "conversation.items"
"""Items added to a conversation: payload ``{"items": [...]}``, one event per ``add_items``."""
CONVERSATION_POP = "conversation.pop"
"""The last item removed: payload ``{"item": ..., "event_id": ..., "index": ...}``."""
CONVERSATION_CLEAR = "conversation.clear"
"""Every item added before this event removed: payload ``{}``."""


SOURCE_LABELS = {"source": "openai-agents"}
logger = logging.getLogger(__name__)

_P = ParamSpec("_P")
_T = TypeVar("_T")


# The conversation: a fold over the session's conversation.* events (pure, no I/O).


@dataclass(frozen=True, slots=True)
class _Entry:
    event_id: str  # the conversation.items event that added the item
    index: int  # the item's place in that event's list
    item: Any


class _History:
    """The conversation as of the session's event ``version``, folded one event at a time."""

    def __init__(self) -> None:
        self.version = 0
        self.entries: list[_Entry] = []

    def fold(self, events: Iterable[Event]) -> None:
        for event in events:
            if event.seq <= self.version:  # another caller folded it first
                continue
            self.version = event.seq
            payload = event.payload if isinstance(event.payload, dict) else {}
            if event.type == CONVERSATION_ITEMS:
                items = payload.get("items")
                if isinstance(items, list):
                    self.entries.extend(_Entry(event.id, i, item) for i, item in enumerate(items))
            elif event.type == CONVERSATION_POP:
                self._remove(payload.get("event_id"), payload.get("index"))
            elif event.type == CONVERSATION_CLEAR:
                self.entries.clear()

    def _remove(self, event_id: object, index: object) -> None:
        # A pop names the item it removed rather than "the last one": the fold gives the
        # same history whatever else was appended around it. The item is nearly always last.
        for position in range(len(self.entries) - 1, -1, -1):
            entry = self.entries[position]
            if entry.event_id == event_id and entry.index == index:
                del self.entries[position]
                return


def _latest(entries: list[_Entry], limit: int | None) -> list[_Entry]:
    # A negative limit gives every item, as SQLite's ``LIMIT -1`` does in SQLiteSession.
    if limit is None or limit < 0:
        return entries
    # Counted from the end, so a limit above the history's length gives all of it; 0 is
    # guarded because ``entries[-0:]`` would too.
    return entries[-limit:] if limit else []


def _session_settings(given: object) -> SessionSettings:
    """The SDK's settings from a SessionSettings, a dict of its fields or None.

    The runner calls ``resolve`` on a session's settings, so a dict must not be kept as it
    came; the SDK's own coercion raises TypeError, where a bad argument here is an
    InvalidArgumentError like every other.
    """
    if given is None:
        return SessionSettings()
    if isinstance(given, SessionSettings):
        return given
    if not isinstance(given, Mapping):
        raise InvalidArgumentError(
            f"session_settings must be a SessionSettings or a dict, not {type(given).__name__}"
        )
    accepted = [field.name for field in fields(SessionSettings) if field.init]
    unknown = sorted(repr(name) for name in given if name not in accepted)
    if unknown:
        raise InvalidArgumentError(
            f"unknown session_settings field {', '.join(unknown)}; "
            f"accepted: {', '.join(map(repr, accepted))}"
        )
    try:
        return SessionSettings(**given)
    except pydantic.ValidationError as error:
        # One line per field, without pydantic's links to its documentation.
        reasons = "; ".join(
            f"{'.'.join(map(str, problem['loc']))}: {problem['msg']}" for problem in error.errors()
        )
        raise InvalidArgumentError(f"invalid session_settings: {reasons}") from None


def _copy_items(entries: Iterable[_Entry]) -> list[TResponseInputItem]:
    # The folded items are shared by every call; the SDK and its callers get their own.
    items: list[TResponseInputItem] = orjson.loads(orjson.dumps([e.item for e in entries]))
    return items


class AgentStoreSession:
    """A Session of the OpenAI Agents SDK kept in an agentstore session.

    Pass it to ``Runner.run(agent, input, session=...)``: the runner reads the history before
    a run and adds the run's new items after. Nothing is ever deleted: ``add_items`` appends a
    ``conversation.items`` event, ``pop_item`` a ``conversation.pop`` event naming the item it
    removed and ``clear_session`` a ``conversation.clear`` event; the history is folded from
    these events, so every past state of the conversation can be replayed, and another
    :class:`AgentStoreSession` over the same store (after a restart, in another process)
    sees the same history. Other events in the session (a tracing processor's) are ignored.

    With a :class:`~agentstore.Store` over files or a database, the store's blocking calls run
    in a worker thread so the event loop is never blocked on disk; in-memory stores are
    called directly. Each call reads only the events appended since the previous one.

    An :class:`~agentstore.aio.AsyncStore` on files or a database belongs to the event loop
    it was opened on (its ``loop``, unless ``loop=`` says otherwise). Called on another
    loop (the store opened in a thread of its own, the runner under ``asyncio.run``), the
    session runs the store's calls on the store's loop and awaits them; if that loop is not
    running, its methods raise RuntimeError (use a Store there, or call the session from
    the store's loop). An in-memory AsyncStore is called directly, on any loop.

    Args:
        session_id: the agentstore session id, also the SDK's ``session_id``.
        store: the store to keep the conversation in.
        create: create the agentstore session on first use if it does not exist; if False,
            using a missing session raises SessionNotFoundError.
        name: the name of the session when it is created.
        labels: labels of the session when it is created, added to
            ``{"source": "openai-agents"}``.
        session_settings: the SDK's settings, a :class:`~agents.memory.SessionSettings` or a
            dict of its fields (``{"limit": 10}``); its ``limit`` is the default of
            ``get_items``.
        loop: the event loop an AsyncStore was opened on (ignored with a Store).

    Raises:
        InvalidSessionIdError: ``session_id`` is not a valid agentstore session id (1-128
            characters from ``A-Za-z0-9._-``, not starting with ``.`` or ``-``).
        InvalidArgumentError: ``session_settings`` is not a SessionSettings or a dict of its
            fields, or ``name`` or ``labels`` could not name a session.
    """

    session_settings: SessionSettings | None

    def __init__(
        self,
        session_id: str,
        store: Store | AsyncStore,
        *,
        create: bool = True,
        name: str = "",
        labels: Mapping[str, str] | None = None,
        session_settings: SessionSettings | Mapping[str, Any] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.session_id = validate_session_id(session_id)
        self.session_settings = _session_settings(session_settings)
        self._store = store
        self._create = create
        # Checked now, not when the session is first created inside a run.
        self._name = check_name(name)
        self._labels = {**SOURCE_LABELS, **check_labels(labels)}
        self._inline = isinstance(store, Store) and isinstance(store.backend, MemoryBackend)
        # An in-memory AsyncStore has no futures of its own: any loop may call it directly.
        self._bound = isinstance(store, AsyncStore) and store.backend.inline is None
        self._loop = (loop or store.loop) if isinstance(store, AsyncStore) else None
        self._ready = False
        self._history = _History()
        # Folding is CPU work on shared state and may run in worker threads at once; the
        # reads are done outside the lock, and each event is folded once, in order.
        self._lock = threading.Lock()

    @property
    def store(self) -> Store | AsyncStore:
        """The store the conversation is kept in."""
        return self._store

    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        """Return the conversation's items in the order they were added.

        Args:
            limit: only the latest ``limit`` items (still oldest first); None: the
                ``session_settings`` limit, or all items. 0 gives none; a negative limit
                gives all, as the SDK's SQLiteSession does.

        Raises:
            SessionNotFoundError: the session does not exist and ``create`` is False.
        """
        limit = resolve_session_limit(limit, self.session_settings)
        _, entries = await self._refresh()
        return _copy_items(_latest(entries, limit))

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        """Append ``items`` to the conversation, as one ``conversation.items`` event.

        Concurrent calls are all kept, in the order the store appends them.

        Raises:
            SessionNotFoundError: the session does not exist and ``create`` is False.
            InvalidEventError: an item is not plain JSON, or the items are too large.
        """
        if not items:
            return
        await self._ensure_session()
        await self._append(new_event(CONVERSATION_ITEMS, {"items": list(items)}))

    async def pop_item(self) -> TResponseInputItem | None:
        """Remove the most recent item and return it; None if the conversation is empty.

        The removal is a ``conversation.pop`` event appended only if nothing was appended to
        the session since the item was read (else it is read again), so two concurrent pops
        never remove, or return, the same item.

        Raises:
            SessionNotFoundError: the session does not exist and ``create`` is False.
        """
        while True:
            version, entries = await self._refresh()
            if not entries:
                return None
            last = entries[-1]
            removal = {"item": last.item, "event_id": last.event_id, "index": last.index}
            try:
                await self._append(new_event(CONVERSATION_POP, removal), expected_seq=version)
            except ConcurrencyError:
                continue
            return _copy_items([last])[0]

    async def clear_session(self) -> None:
        """Remove every item, with a ``conversation.clear`` event; the log keeps them.

        Raises:
            SessionNotFoundError: the session does not exist and ``create`` is False.
        """
        await self._ensure_session()
        await self._append(new_event(CONVERSATION_CLEAR))

    # Store calls: awaited on an AsyncStore, in a worker thread for a durable Store.

    async def _refresh(self) -> tuple[int, list[_Entry]]:
        await self._ensure_session()
        with self._lock:
            start = self._history.version + 1
        if isinstance(self._store, AsyncStore):
            events = await self._on_store_loop(self._store.get_events(self.session_id, start))
        else:
            events = await self._offload(self._store.get_events, self.session_id, start)
        with self._lock:
            self._history.fold(events)
            return self._history.version, list(self._history.entries)

    async def _append(self, event: Event, *, expected_seq: int | None = None) -> Event:
        if isinstance(self._store, AsyncStore):
            appending = self._store.append(self.session_id, event, expected_seq=expected_seq)
            return await self._on_store_loop(appending)
        return await self._offload(
            self._store.append, self.session_id, event, expected_seq=expected_seq
        )

    async def _ensure_session(self) -> None:
        if self._ready:
            return
        store = self._store
        try:
            if isinstance(store, AsyncStore):
                await self._on_store_loop(store.get_session(self.session_id))
            else:
                await self._offload(store.get_session, self.session_id)
        except SessionNotFoundError:
            if not self._create:
                raise
            await self._create_session()
        self._ready = True

    async def _create_session(self) -> None:
        store, name, labels = self._store, self._name, self._labels
        # Another process may create it at the same moment: then it exists, as wanted.
        with contextlib.suppress(SessionExistsError):
            if isinstance(store, AsyncStore):
                creating = store.create_session(id=self.session_id, name=name, labels=labels)
                await self._on_store_loop(creating)
            else:
                await self._offload(
                    store.create_session, id=self.session_id, name=name, labels=labels
                )

    async def _on_store_loop(self, call: Coroutine[Any, Any, _T]) -> _T:
        if not self._bound:
            return await call
        here = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = here
        if self._loop is here:
            return await call
        fix = "use a Store, or call the session from the store's loop"
        return await on_loop(self._loop, call, fix=fix)

    async def _offload(self, call: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        if self._inline:  # microseconds in memory: a thread hop would cost more than the call
            return call(*args, **kwargs)
        return await asyncio.to_thread(call, *args, **kwargs)
