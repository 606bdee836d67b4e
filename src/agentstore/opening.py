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
