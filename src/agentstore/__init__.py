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

import os
from typing import Any

from agentstore.backends import open_backend
from agentstore.copying import CopyReport, copy_sessions
from agentstore.errors import (
    AgentStoreError,
    ConcurrencyError,
    CorruptLogError,
    InvalidArgumentError,
    InvalidEventError,
    InvalidSessionIdError,
    SessionExistsError,
    SessionNotFoundError,
    StorageError,
    StoreClosedError,
)
from agentstore.events import Event, EventType, Metadata, new_event
from agentstore.payloads import DEFAULT_MAX_PAYLOAD_BYTES
from agentstore.recording import Recorder
from agentstore.sessions import Session
from agentstore.state import Reducer, Snapshot, State, TokenUsage, default_reducer
from agentstore.store import Store

__all__ = [
    "AgentStoreError",
    "ConcurrencyError",
    "CopyReport",
    "CorruptLogError",
    "Event",
    "EventType",
    "InvalidArgumentError",
    "InvalidEventError",
    "InvalidSessionIdError",
    "Metadata",
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
    "TokenUsage",
    "__version__",
    "copy_sessions",
    "default_reducer",
    "new_event",
    "open",
]

__version__ = "0.1.0"


def open(  # noqa: A001 - mirrors the builtin on purpose: agentstore.open(target)
    target: str | os.PathLike[str] = "./agent-data",
    *,
    snapshot_interval: int = 100,
    reducer: Reducer | None = None,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    **backend_options: Any,
) -> Store:
    """Open the store at ``target``.

    Args:
        target: where the data lives: ``":memory:"`` keeps it in this process.
        snapshot_interval: save the materialized state every this many events (0: never).
        reducer: derives state from events; :func:`default_reducer` if None.
        max_payload_bytes: the largest payload accepted, as compact UTF-8 JSON (1 MiB).
        **backend_options: options of the target's backend.

    Raises:
        InvalidArgumentError: the target or an option is not accepted.
    """
    backend = open_backend(target, **backend_options)
    try:
        return Store(
            backend,
            snapshot_interval=snapshot_interval,
            reducer=reducer,
            max_payload_bytes=max_payload_bytes,
        )
    except BaseException:
        backend.close()
        raise
