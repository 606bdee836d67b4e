"""Writing the tracing processor's recorder calls in order, to a Store or an AsyncStore.

Also the hand-over to an AsyncStore's own event loop that the writers and the session
share, for callers on another loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentstore.aio import AsyncStore
from agentstore.aio.loops import on_loop, running_loop
from agentstore.backends import MemoryBackend
from agentstore.errors import SessionExistsError
from agentstore.events import Event
from agentstore.recording import Recorder
from agentstore.recording.async_recorder import AsyncRecorder
from agentstore.store import Store

__all__ = ["AsyncStoreWriter", "Op", "StoreWriter", "Target"]

logger = logging.getLogger(__name__)  # a child of agentstore.integrations.openai_agents


@dataclass(frozen=True, slots=True)
class Target:
    """The session a trace is recorded into, and how to create it."""

    session_id: str
    name: str
    labels: Mapping[str, str]


@dataclass(slots=True)
class Op:
    """One Recorder call to make, ``method(**kwargs)``, in the order the spans came."""

    target: Target
    trace_id: str
    method: str  # a Recorder method; "" forgets the trace's events
    kwargs: dict[str, Any] = field(default_factory=dict)
    key: str = ""  # remember the recorded event as this span's
    refs: dict[str, str] = field(default_factory=dict)  # argument -> span whose event it is
    waiting: bool = False  # a model call whose tokens come when its turn ends


class Writer:
    """Makes the Recorder calls of ops, one at a time, remembering the events recorded for
    spans so that later calls can point at them (a tool's result at its call).

    A trace's recorder is dropped once the trace is forgotten when each trace has a
    session of its own (it would never be used again), kept when all share one session.
    """

    def __init__(self, worker_id: str, *, shared_session: bool) -> None:
        self._worker_id = worker_id
        self._shared_session = shared_session
        self._recorders: dict[str, Any] = {}
        self._events: dict[tuple[str, str], Event] = {}

    def _call_arguments(self, op: Op) -> dict[str, Any] | None:
        """The arguments of the Recorder call to make for ``op``, or None for none."""
        if not op.method:
            self._forget(op)
            return None
        arguments = dict(op.kwargs)
        for name, span_id in op.refs.items():
            arguments[name] = self._events.get((op.trace_id, span_id))
        if op.method == "tool_result" and arguments["called"] is None:
            return None  # the call was not recorded (its failure was logged): nothing to answer
        return arguments

    def _remember(self, op: Op, event: Event) -> None:
        if op.key:
            self._events[op.trace_id, op.key] = event

    def _forget(self, op: Op) -> None:
        for key in [key for key in self._events if key[0] == op.trace_id]:
            del self._events[key]
        if not self._shared_session:
            self._recorders.pop(op.target.session_id, None)

    @contextlib.contextmanager
    def _logging_failure(self, op: Op) -> Iterator[None]:
        # Logged, never raised, as the processor promises: an op that fails must not stop
        # the ops queued after it.
        try:
            yield
        except Exception:
            logger.exception(
                "agentstore could not record %s in %s", op.method, op.target.session_id
            )


class StoreWriter(Writer):
    """Writes to a Store: in a worker thread for files and databases, directly in memory."""

    def __init__(self, store: Store, worker_id: str, *, shared_session: bool) -> None:
        super().__init__(worker_id, shared_session=shared_session)
        self._store = store
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        if not isinstance(store.backend, MemoryBackend):
            # One worker keeps the ops in order; an fsync or a commit per span then never
            # blocks the agent's event loop.
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="agentstore-tracing"
            )

    def submit(self, op: Op) -> None:
        if self._executor is None:
            self._run(op)
        else:
            self._executor.submit(self._run, op)

    def flush(self, timeout: float | None) -> bool:
        if self._executor is None:
            return True
        try:
            marker = self._executor.submit(bool)
        except RuntimeError:  # shut down (by close, or at exit once its queue has run)
            return True
        done, _ = concurrent.futures.wait([marker], timeout=timeout)
        return bool(done)

    def close(self, timeout: float | None) -> None:
        self.flush(timeout)
        if self._executor is not None:
            self._executor.shutdown(wait=False)

    def _run(self, op: Op) -> None:
        with self._logging_failure(op):
            arguments = self._call_arguments(op)
            if arguments is not None:
                self._remember(op, getattr(self._recorder(op.target), op.method)(**arguments))

    def _recorder(self, target: Target) -> Recorder:
        recorder = self._recorders.get(target.session_id)
        if recorder is None:
            with contextlib.suppress(SessionExistsError):  # it may exist: then it is used
                self._store.create_session(
                    id=target.session_id, name=target.name, labels=target.labels
                )
            recorder = self._store.recorder(target.session_id, worker_id=self._worker_id)
            self._recorders[target.session_id] = recorder
        return recorder


class AsyncStoreWriter(Writer):
    """Writes to an AsyncStore, on the event loop it is used from, in one task at a time."""

    def __init__(
        self,
        store: AsyncStore,
        worker_id: str,
        loop: asyncio.AbstractEventLoop,
        *,
        shared_session: bool,
    ) -> None:
        super().__init__(worker_id, shared_session=shared_session)
        self._store = store
        self.loop = loop
        self._queue: list[Op] = []
        self._task: asyncio.Task[None] | None = None

    def submit(self, op: Op) -> None:
        if running_loop() is self.loop:
            self._push(op)
        else:  # a span ended in another thread: the store may only be used on its loop
            self.loop.call_soon_threadsafe(self._push, op)

    async def flush(self) -> None:
        """Wait until the ops submitted so far are written, on the store's loop or another.

        Raises:
            RuntimeError: awaited on another loop while the store's is not running.
        """
        if running_loop() is not self.loop:
            await on_loop(self.loop, self.flush(), fix="run it to write the spans")
            return
        await asyncio.sleep(0)  # ops handed over from other threads land first
        while self._task is not None:
            await asyncio.shield(self._task)

    def _push(self, op: Op) -> None:
        self._queue.append(op)
        if self._task is None:
            self._task = self.loop.create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._queue:
                await self._run(self._queue.pop(0))
        finally:
            self._task = None

    async def _run(self, op: Op) -> None:
        with self._logging_failure(op):
            arguments = self._call_arguments(op)
            if arguments is not None:
                recorder = await self._recorder(op.target)
                self._remember(op, await getattr(recorder, op.method)(**arguments))

    async def _recorder(self, target: Target) -> AsyncRecorder:
        recorder = self._recorders.get(target.session_id)
        if recorder is None:
            with contextlib.suppress(SessionExistsError):  # it may exist: then it is used
                await self._store.create_session(
                    id=target.session_id, name=target.name, labels=target.labels
                )
            recorder = self._store.recorder(target.session_id, worker_id=self._worker_id)
            self._recorders[target.session_id] = recorder
        return recorder
