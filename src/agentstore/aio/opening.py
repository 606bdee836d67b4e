"""Opening an async store: :func:`agentstore.aio.open`, awaited or used with ``async with``."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine, Generator
from types import TracebackType
from typing import Any

from agentstore.aio.store import AsyncStore
from agentstore.backends.adapters import InlineBackend, ThreadedBackend
from agentstore.backends.base import AsyncBackend
from agentstore.backends.memory import MemoryBackend
from agentstore.backends.targets import (
    is_postgres_url,
    is_server_url,
    open_backend,
    postgres_backends,
    postgres_url_options,
    remote_backends,
)
from agentstore.errors import InvalidArgumentError
from agentstore.payloads import DEFAULT_MAX_PAYLOAD_BYTES
from agentstore.state import Reducer

__all__ = ["Opening", "open"]


def open(  # noqa: A001 - mirrors agentstore.open
    target: str | os.PathLike[str] = "./agent-data",
    *,
    snapshot_interval: int = 100,
    reducer: Reducer | None = None,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    read_only: bool = False,
    **backend_options: Any,
) -> Opening:
    """Open the async store at ``target``: ``await`` the result, or ``async with`` it.

    ``store = await agentstore.aio.open(...)`` opens it (close it with ``await
    store.aclose()``); ``async with agentstore.aio.open(...) as store:`` closes it at the
    end of the block; the result is also a coroutine, so ``asyncio.run(agentstore.aio.open(
    ...))`` returns the store, to use on a loop of one's own (an in-memory store, or one
    run with ``asyncio.run`` again is bound to the loop that opened it: open it there).

    Args:
        target: where the data lives: a directory (JSONL files, created if missing),
            ``"sqlite:///path"`` or a path ending in ``.db``, ``.sqlite`` or ``.sqlite3``
            (one SQLite file), ``"postgresql://user@host/db"`` (the ``postgres`` extra),
            or ``":memory:"`` (in this process, a new store each time).
        snapshot_interval: save the materialized state every this many events (0: never).
        reducer: derives state from events; :func:`agentstore.default_reducer` if None.
        max_payload_bytes: the largest payload accepted, as compact UTF-8 JSON (1 MiB).
        read_only: open an existing store to read it only: nothing is created, migrated
            or written (no directory, file, table or schema, no snapshot), every write
            raises :class:`~agentstore.ReadOnlyStoreError`, and a target that holds no
            store raises :class:`~agentstore.StoreNotFoundError`. Not for ``":memory:"``.
        **backend_options: options of the target's backend:

            - JSONL directory: ``poll_interval`` (seconds between looks for events that
              other processes append, 0.05), ``workers`` (the most threads doing the
              store's file work, 16).
            - SQLite: ``synchronous`` (``"FULL"``, durable against power loss, or
              ``"NORMAL"``), ``busy_timeout`` (seconds a writer waits for another, 30),
              ``poll_interval`` (0.05), ``workers`` (16).
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
    options = {
        "snapshot_interval": snapshot_interval,
        "reducer": reducer,
        "max_payload_bytes": max_payload_bytes,
        "read_only": read_only,
    }
    return Opening(target, options, backend_options)


class Opening(Coroutine[Any, Any, AsyncStore]):
    """An async store being opened: a coroutine, and an async context manager that closes it.

    Awaited (or run by :func:`asyncio.run`, or made a task), it returns the store; used
    with ``async with``, it opens the store on entering and closes it on leaving.
    """

    def __init__(
        self,
        target: str | os.PathLike[str],
        options: dict[str, Any],
        backend_options: dict[str, Any],
    ) -> None:
        self._target = target
        self._options = options
        self._backend_options = backend_options
        self._store: AsyncStore | None = None
        # Made when first driven (awaited, run, or stepped by a task), not before: an
        # Opening only entered with ``async with`` leaves no coroutine never awaited.
        self._opening: Coroutine[Any, Any, AsyncStore] | None = None

    def _coroutine(self) -> Coroutine[Any, Any, AsyncStore]:
        if self._opening is None:
            self._opening = self._open()
        return self._opening

    def __await__(self) -> Generator[Any, None, AsyncStore]:
        return self._coroutine().__await__()

    def send(self, value: Any) -> Any:
        """Step the opening (what an event loop's task does with a coroutine)."""
        return self._coroutine().send(value)

    def throw(
        self,
        typ: type[BaseException] | BaseException,
        val: BaseException | object = None,
        tb: TracebackType | None = None,
    ) -> Any:
        """Raise an exception where the opening waits (a cancelled task's)."""
        if isinstance(typ, BaseException):
            error = typ
        elif isinstance(val, BaseException):
            error = val
        else:
            error = typ() if val is None else typ(val)
        return self._coroutine().throw(error)

    def close(self) -> None:
        """Give up an opening not finished (a coroutine's ``close``)."""
        if self._opening is not None:
            self._opening.close()

    async def __aenter__(self) -> AsyncStore:
        self._store = await self._open()
        return self._store

    async def __aexit__(self, *exc_info: object) -> None:
        if self._store is not None:
            await self._store.aclose()

    async def _open(self) -> AsyncStore:
        read_only = self._options["read_only"]
        backend = await _open_backend(self._target, read_only, dict(self._backend_options))
        try:
            return AsyncStore(backend, **self._options)
        except BaseException:
            await backend.close()
            raise


async def _open_backend(
    target: str | os.PathLike[str], read_only: bool, options: dict[str, Any]
) -> AsyncBackend:
    if target == ":memory:":
        memory = open_backend(target, read_only=read_only, **options)
        if isinstance(memory, MemoryBackend):
            return InlineBackend(memory)
    if is_server_url(target):
        remote = remote_backends("async_backend")
        server: AsyncBackend = await remote.AsyncRemoteBackend.open(
            os.fspath(target), read_only=read_only, **options
        )
        return server
    if is_postgres_url(target):
        postgres = postgres_backends()
        url, options = postgres_url_options(os.fspath(target), options)
        backend: AsyncBackend = await postgres.AsyncPostgresBackend.open(
            url, read_only=read_only, **options
        )
        return backend
    workers = options.pop("workers", 16)
    if type(workers) is not int or workers < 1:
        raise InvalidArgumentError(f"workers must be a positive int, not {workers!r}")
    # Opening makes directories or migrates a database: off the loop too.
    opened = await asyncio.to_thread(open_backend, target, read_only=read_only, **options)
    return ThreadedBackend(opened, workers=workers)
