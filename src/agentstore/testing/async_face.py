"""The conformance suite on the async face: an AsyncStore presented as a sync Store.

The suite is written once, against :class:`agentstore.Store`. :class:`SyncFace` runs an
:class:`~agentstore.aio.AsyncStore` on an event loop in a thread of its own
(:class:`LoopThread`) and answers each call of the sync API by running the coroutine of
the same name there, so the very same scenarios hold the async face to the same answers;
threads calling at once become concurrent tasks on the loop::

    class TestAsyncJsonl(StoreConformance):
        @pytest.fixture
        def open_store(self, tmp_path):
            with LoopThread() as loop:
                yield lambda **options: loop.open(tmp_path / "data", **options)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import (
    AsyncIterator,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from datetime import datetime
from typing import Any, TypeVar

import agentstore.aio
from agentstore.aio import AsyncBackend, AsyncStore, AsyncWatch
from agentstore.backends.base import Backend, Subscription
from agentstore.errors import StoreClosedError
from agentstore.events import Event, EventType
from agentstore.feeds import Watch
from agentstore.sessions import Session, SessionUpdate
from agentstore.state import Snapshot
from agentstore.store import Store

__all__ = ["LoopThread", "SyncFace"]

STORE_OPERATIONS = (
    "create_session",
    "get_session",
    "list_sessions",
    "update_session",
    "delete_session",
    "append",
    "append_batch",
    "get_events",
    "replay",
    "get_state",
    "fork",
)

_Result = TypeVar("_Result")


class LoopThread:
    """An event loop running in a thread of its own, for sync code to run coroutines on."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, _Result]) -> _Result:
        """Run ``coroutine`` on the loop and return its outcome (from another thread)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def open(self, target: Any, **options: Any) -> SyncFace:
        """Open an async store with :func:`agentstore.aio.open`, presented as a sync one."""
        return SyncFace(self.run(_opened(target, options)), self)

    def face(self, store: AsyncStore) -> SyncFace:
        """Present ``store`` as a sync one."""
        return SyncFace(store, self)

    def close(self) -> None:
        """Stop the loop and its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    def __enter__(self) -> LoopThread:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


async def _opened(target: Any, options: dict[str, Any]) -> AsyncStore:
    return await agentstore.aio.open(target, **options)


class SyncFace(Store):
    """An AsyncStore behind the sync Store API: each call runs its coroutine on the loop."""

    def __init__(self, store: AsyncStore, loop: LoopThread) -> None:
        super().__init__(
            _SyncBackend(store.backend, loop),
            snapshot_interval=store.snapshot_interval,
            reducer=store.reducer,
        )
        self.async_store = store
        self._loop = loop

    @property
    def closed(self) -> bool:
        """Whether the async store is closed."""
        return self.async_store.closed

    @property
    def read_only(self) -> bool:
        """Whether the async store was opened read-only."""
        return self.async_store.read_only

    def __enter__(self) -> SyncFace:
        if self.async_store.closed:
            raise StoreClosedError()
        return self

    def watch(
        self, session_id: str | None = None, *, from_seq: int = 0, timeout: float | None = None
    ) -> Watch:
        """See :meth:`AsyncStore.watch`; the feed starts at once, as the sync one does."""
        watch = self.async_store.watch(session_id, from_seq=from_seq, timeout=timeout)
        return _SyncWatch(self._loop.run(watch.start()), self._loop)

    def iter_events(
        self,
        session_id: str,
        *,
        types: Iterable[EventType | str] | EventType | str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        from_seq: int | None = None,
        to_seq: int | None = None,
        page_size: int = 1000,
    ) -> Iterator[Event]:
        """See :meth:`AsyncStore.iter_events`: its async iterator, a step at a time on the loop."""
        events = self._loop.run(
            _made_on_loop(
                lambda: self.async_store.iter_events(
                    session_id,
                    types=types,
                    since=since,
                    until=until,
                    from_seq=from_seq,
                    to_seq=to_seq,
                    page_size=page_size,
                )
            )
        )
        return _sync_iterator(events, self._loop)

    def close(self) -> None:
        """See :meth:`AsyncStore.aclose`."""
        self._loop.run(self.async_store.aclose())


class _SyncWatch(Watch):
    """An AsyncWatch behind the sync Watch API."""

    def __init__(self, watch: AsyncWatch, loop: LoopThread) -> None:
        # No Watch.__init__: the feed is the async watch's, already started on the loop.
        self._feed = watch._feed
        self._watch = watch
        self._loop = loop

    def __next__(self) -> Event:
        try:
            return self._loop.run(_next(self._watch))
        except StopAsyncIteration:
            raise StopIteration from None

    def stop(self) -> None:
        if threading.current_thread() is self._loop.thread:
            self._watch.stop()
        else:
            self._loop.run(self._watch.aclose())


async def _next(watch: AsyncWatch) -> Event:
    return await watch.__anext__()


def _sync_iterator(events: AsyncIterator[Event], loop: LoopThread) -> Iterator[Event]:
    """An async iterator behind the sync iterator API: each step runs on the loop."""
    while True:
        try:
            yield loop.run(_anext(events))
        except StopAsyncIteration:
            return


async def _anext(events: AsyncIterator[Event]) -> Event:
    return await events.__anext__()


async def _made_on_loop(make: Callable[[], _Result]) -> _Result:
    """What ``make()`` returns, called on the loop (where the store checks its calls run)."""
    return make()


class _SyncBackend(Backend):
    """An async backend behind the sync Backend API (copies and snapshots use it)."""

    def __init__(self, backend: AsyncBackend, loop: LoopThread) -> None:
        self._backend = backend
        self._loop = loop

    def create_session(self, session: Session, history: Sequence[Event] = ()) -> Session:
        return self._loop.run(self._backend.create_session(session, history))

    def get_session(self, session_id: str) -> Session:
        return self._loop.run(self._backend.get_session(session_id))

    def list_sessions(
        self, *, limit: int, offset: int, labels: Mapping[str, str] | None
    ) -> list[Session]:
        return self._loop.run(
            self._backend.list_sessions(limit=limit, offset=offset, labels=labels)
        )

    def update_session(self, session_id: str, update: SessionUpdate) -> Session:
        return self._loop.run(self._backend.update_session(session_id, update))

    def delete_session(self, session_id: str) -> Session:
        return self._loop.run(self._backend.delete_session(session_id))

    def append(
        self, session_id: str, events: Sequence[Event], *, expected_seq: int | None
    ) -> list[Event]:
        return self._loop.run(self._backend.append(session_id, events, expected_seq=expected_seq))

    def import_events(self, session_id: str, events: Sequence[Event]) -> None:
        self._loop.run(self._backend.import_events(session_id, events))

    def read(self, session_id: str, *, from_seq: int = 1, to_seq: int | None = None) -> list[Event]:
        return self._loop.run(self._backend.read(session_id, from_seq=from_seq, to_seq=to_seq))

    def last_seq(self, session_id: str) -> int:
        return self._loop.run(self._backend.last_seq(session_id))

    def read_snapshot(self, session_id: str) -> Snapshot | None:
        return self._loop.run(self._backend.read_snapshot(session_id))

    def write_snapshot(self, snapshot: Snapshot) -> None:
        self._loop.run(self._backend.write_snapshot(snapshot))

    def subscribe(self, session_id: str | None) -> Subscription:
        raise NotImplementedError("watch through the store: SyncFace.watch")

    def close(self) -> None:
        self._loop.run(self._backend.close())


def _on_loop(name: str, target: str) -> Callable[..., Any]:
    """A sync method that runs the coroutine method ``name`` of ``self.<target>`` on the loop."""

    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        return self._loop.run(getattr(getattr(self, target), name)(*args, **kwargs))

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"See :meth:`AsyncStore.{name}`."
    return call


# Each operation of the sync API runs its async twin on the loop: the same names and
# arguments (tests/test_faces.py holds the two faces to that).
for _name in STORE_OPERATIONS:
    setattr(SyncFace, _name, _on_loop(_name, "async_store"))
