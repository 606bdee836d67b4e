"""Opening a store: :func:`agentstore.open`, a target (path or URL) to a :class:`Store`."""

from __future__ import annotations

import os
from typing import Any

from agentstore.backends.targets import open_backend
from agentstore.payloads import DEFAULT_MAX_PAYLOAD_BYTES
from agentstore.state import Reducer
from agentstore.store import Store

__all__ = ["open"]


def open(  # noqa: A001 - mirrors the builtin on purpose: agentstore.open(target)
    target: str | os.PathLike[str] = "./agent-data",
    *,
    snapshot_interval: int = 100,
    reducer: Reducer | None = None,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    read_only: bool = False,
    **backend_options: Any,
) -> Store:
    """Open the store at ``target``.

    Args:
        target: where the data lives: a directory (JSONL files, created if missing),
            ``"sqlite:///path"`` or a path ending in ``.db``, ``.sqlite`` or ``.sqlite3``
            (one SQLite file), ``"postgresql://user@host/db"`` (the ``postgres`` extra),
            or ``":memory:"`` (in this process, a new store each time).
        snapshot_interval: save the materialized state every this many events (0: never).
        reducer: derives state from events; :func:`default_reducer` if None.
        max_payload_bytes: the largest payload accepted, as compact UTF-8 JSON (1 MiB).
        read_only: open an existing store to read it only: nothing is created, migrated
            or written (no directory, file, table or schema, no snapshot), every write
            raises :class:`ReadOnlyStoreError`, and a target that holds no store raises
            :class:`StoreNotFoundError`. Not for ``":memory:"``, new at each open.
        **backend_options: options of the target's backend:

            - JSONL directory: ``poll_interval`` (seconds between looks for events that
              other processes append, 0.05).
            - SQLite: ``synchronous`` (``"FULL"``, durable against power loss, or
              ``"NORMAL"``), ``busy_timeout`` (seconds a writer waits for another, 30),
              ``poll_interval`` (0.05).
            - PostgreSQL: ``schema`` (the tables' schema, ``"agentstore"``; also
              ``?schema=`` in the URL), ``partitions`` (hash-partition the events by
              session into this many tables, 0; also in the URL), ``pool_size`` (the
              most connections, 10), ``poll_interval`` (seconds between checks when no
              notification comes, 1.0). The URL's other query parameters are libpq's.
            - ``":memory:"``: none.

    Raises:
        InvalidArgumentError: the target or an option is not accepted.
        StoreNotFoundError: (read-only) the target holds no agentstore store.
        StoreVersionError: the store's format is newer than this agentstore's (or, read
            only, older and not readable without migrating it).
        StorageError: the store cannot be reached or read.
    """
    backend = open_backend(target, read_only=read_only, **backend_options)
    try:
        return Store(
            backend,
            snapshot_interval=snapshot_interval,
            reducer=reducer,
            max_payload_bytes=max_payload_bytes,
            read_only=read_only,
        )
    except BaseException:
        backend.close()
        raise
