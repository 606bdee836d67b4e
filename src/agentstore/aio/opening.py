"""Opening an async store: :func:`agentstore.aio.open`, awaited or used with ``async with``."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Generator
from typing import Any

from agentstore.aio.store import AsyncStore
from agentstore.backends.adapters import InlineBackend, ThreadedBackend
from agentstore.backends.base import AsyncBackend
from agentstore.backends.memory import MemoryBackend
from agentstore.backends.targets import (
    is_postgres_url,
    open_backend,
    postgres_backends,
    postgres_url_options,
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
    **backend_options: Any,
) -> Opening:
    """Open the async store at ``target``: ``await`` the result, or ``async with`` it.

    Takes the arguments of :func:`agentstore.open`; the JSONL and SQLite backends also
    take ``workers``, the most threads doing their file work (16).

    Raises:
        InvalidArgumentError: the target or an option is not accepted.
    """
    options = {
        "snapshot_interval": snapshot_interval,
        "reducer": reducer,
        "max_payload_bytes": max_payload_bytes,
    }
    return Opening(target, options, backend_options)


class Opening:
    """An async store being opened: awaitable, and an async context manager that closes it."""

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

    def __await__(self) -> Generator[Any, None, AsyncStore]:
        return self._open().__await__()

    async def __aenter__(self) -> AsyncStore:
        self._store = await self._open()
        return self._store

    async def __aexit__(self, *exc_info: object) -> None:
        if self._store is not None:
            await self._store.aclose()

    async def _open(self) -> AsyncStore:
        backend = await _open_backend(self._target, dict(self._backend_options))
        try:
            return AsyncStore(backend, **self._options)
        except BaseException:
            await backend.close()
            raise


async def _open_backend(target: str | os.PathLike[str], options: dict[str, Any]) -> AsyncBackend:
    if target == ":memory:":
        memory = open_backend(target, **options)
        if isinstance(memory, MemoryBackend):
            return InlineBackend(memory)
    if is_postgres_url(target):
        postgres = postgres_backends()
        url, options = postgres_url_options(os.fspath(target), options)
        backend: AsyncBackend = await postgres.AsyncPostgresBackend.open(url, **options)
        return backend
    workers = options.pop("workers", 16)
    if type(workers) is not int or workers < 1:
        raise InvalidArgumentError(f"workers must be a positive int, not {workers!r}")
    # Opening makes directories or migrates a database: off the loop too.
    return ThreadedBackend(
        await asyncio.to_thread(open_backend, target, **options), workers=workers
    )
