"""What :class:`~agentstore.Store` and :class:`~agentstore.aio.AsyncStore` share: settings,
checks and the state cache, with no I/O (their methods call a backend; this does not)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from agentstore import arguments
from agentstore.arguments import check_count
from agentstore.errors import InvalidArgumentError, StoreClosedError
from agentstore.materializer import Materializer
from agentstore.state import Reducer, default_reducer

__all__ = ["StoreShell"]

_Backend = TypeVar("_Backend")


class StoreShell(Generic[_Backend]):
    """A store's settings and checks around a backend of type ``_Backend``."""

    _backend_type: type[Any]  # checked by __init__: Backend, or AsyncBackend

    def __init__(
        self,
        backend: _Backend,
        *,
        snapshot_interval: int,
        reducer: Reducer | None,
        max_payload_bytes: int,
    ) -> None:
        if not isinstance(backend, self._backend_type):
            kind = self._backend_type.__name__
            raise InvalidArgumentError(f"backend must be a {kind}, not {type(backend).__name__}")
        if reducer is not None and not callable(reducer):
            raise InvalidArgumentError("reducer must be a callable (state, event) -> state")
        self._backend = backend
        self._snapshot_interval = check_count(snapshot_interval, "snapshot_interval")
        self._max_payload_bytes = check_count(max_payload_bytes, "max_payload_bytes")
        self._reducer: Reducer = reducer if reducer is not None else default_reducer
        self._states = Materializer(self._reducer, self._snapshot_interval)
        self._ids = arguments.KnownIds()
        self._known_ids = self._ids.known
        self._closed = False

    @property
    def backend(self) -> _Backend:
        """The backend this store keeps its data in."""
        return self._backend

    @property
    def reducer(self) -> Reducer:
        """The reducer that materializes state."""
        return self._reducer

    @property
    def snapshot_interval(self) -> int:
        """How many events apart snapshots are taken (0: never)."""
        return self._snapshot_interval

    @property
    def closed(self) -> bool:
        """Whether the store was closed."""
        return self._closed

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<{type(self).__name__} {type(self._backend).__name__} {state}>"

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError()

    def _check_id(self, session_id: str) -> str:
        try:  # the common case inline: an id already checked
            if session_id in self._known_ids:
                return session_id
        except TypeError:
            pass
        return self._ids.check(session_id)
