"""agentstore: an embeddable event store for AI-agent state.

An agent records what it does as immutable events in per-session, append-only logs;
state is derived from the events by a reducer, and any session can be replayed,
inspected at any past step, forked or watched live::

    import agentstore
    from agentstore import EventType

    with agentstore.open(":memory:") as store:
        session = store.create_session(name="flight-search")
        store.append(session.id, agentstore.new_event(EventType.USER_MESSAGE, {"text": "hi"}))
        print(store.get_state(session.id).event_count)
"""

from __future__ import annotations

from agentstore.copying import CopyReport, copy_sessions
from agentstore.errors import (
    AccessDeniedError,
    AgentStoreError,
    ConcurrencyError,
    CorruptLogError,
    EventLoopError,
    InvalidArgumentError,
    InvalidEventError,
    InvalidSessionIdError,
    ReadOnlyStoreError,
    SessionExistsError,
    SessionNotFoundError,
    StorageError,
    StoreClosedError,
    StoreNotFoundError,
    StoreVersionError,
)
from agentstore.events import Event, EventType, Metadata, new_event
from agentstore.opening import open  # noqa: A004 - agentstore.open(target), on purpose
from agentstore.recording import Recorder
from agentstore.sessions import Session
from agentstore.state import Reducer, Snapshot, State, TokenUsage, default_reducer
from agentstore.store import Store

__all__ = [
    "AccessDeniedError",
    "AgentStoreError",
    "ConcurrencyError",
    "CopyReport",
    "CorruptLogError",
    "EventLoopError",
    "Event",
    "EventType",
    "InvalidArgumentError",
    "InvalidEventError",
    "InvalidSessionIdError",
    "Metadata",
    "ReadOnlyStoreError",
    "Recorder",
    "Reducer",
    "Session",
    "SessionExistsError",
    "SessionNotFoundError",
    "Snapshot",
    "State",
    "StorageError",
    "Store",
    "StoreClosedError",
    "StoreNotFoundError",
    "StoreVersionError",
    "TokenUsage",
    "__version__",
    "copy_sessions",
    "default_reducer",
    "new_event",
    "open",
]

__version__ = "0.1.0"
