"""A span processor that records the GenAI spans of an instrumented agent into a store.

Add a :class:`RecordingSpanProcessor` to a ``TracerProvider``; its spans become events by
the mapping of :mod:`agentstore.otel.record`, written by a thread of its own in batches,
so an agent never waits for the store.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import threading
import weakref
from collections.abc import Callable

from agentstore.errors import missing_extra

try:
    from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, Context, attach, set_value
    from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
except ModuleNotFoundError as missing:
    raise missing_extra(missing, "otel", "agentstore.otel") from None

from agentstore.aio import AsyncStore
from agentstore.aio.loops import running_loop
from agentstore.errors import InvalidArgumentError, InvalidEventError
from agentstore.ids import validate_session_id
from agentstore.otel import conventions as otel
from agentstore.otel.record import SessionBatch, TraceSessions, is_genai, span_record
from agentstore.store import Store

__all__ = ["RecordingSpanProcessor", "write", "write_async"]

logger = logging.getLogger(__name__)

_ASYNC_WAIT = 60.0  # the longest wait for an AsyncStore's loop to write a batch


def write(store: Store, batch: SessionBatch) -> int:
    """Append a batch's events to its session, created if missing (named after the agent).

    All at once; if the store refuses an event, each span's events are appended on their
    own, and the spans refused are left out (and logged).

    Returns:
        How many spans the store refused.
    """
    store.create_session(id=batch.session_id, name=batch.name, exist_ok=True)
    try:
        store.append_batch(batch.session_id, batch.events())
    except InvalidEventError:
        refused = 0
        for span in batch.spans:
            try:
                store.append_batch(batch.session_id, [event for _, event in span])
            except InvalidEventError as error:
                refused += _refused(batch, error)
        return refused
    return 0


async def write_async(store: AsyncStore, batch: SessionBatch) -> int:
    """:func:`write` to an AsyncStore."""
    await store.create_session(id=batch.session_id, name=batch.name, exist_ok=True)
    try:
        await store.append_batch(batch.session_id, batch.events())
    except InvalidEventError:
        refused = 0
        for span in batch.spans:
            try:
                await store.append_batch(batch.session_id, [event for _, event in span])
            except InvalidEventError as error:
                refused += _refused(batch, error)
        return refused
    return 0


def _refused(batch: SessionBatch, error: InvalidEventError) -> int:
    logger.warning("agentstore refused a span's events in %s: %s", batch.session_id, error)
    return 1


# The span processor.


class RecordingSpanProcessor(SpanProcessor):
    """A span processor that records the GenAI spans of an instrumented agent in a store.

    Add it to the ``TracerProvider`` the agent's instrumentation uses::

        provider.add_span_processor(RecordingSpanProcessor(store))

    Ending a span only queues it: a worker thread appends the queued spans' events every
    ``schedule_delay_millis`` (or as soon as ``max_export_batch_size`` are queued), with
    one append per session per batch, as the SDK's ``BatchSpanProcessor`` exports. The
    agent never waits for the store: when the queue is full, a span is dropped, counted
    in :attr:`dropped` and the first drop is logged (logger ``agentstore.otel.record``).
    Writes that fail are logged and their spans counted too.

    With an :class:`~agentstore.aio.AsyncStore`, each batch is written on the store's
    event loop (handed over from the worker thread; a store of no loop, in memory, is
    written on the worker's own loop). On the store's loop, :meth:`force_flush` returns
    False at once and :meth:`shutdown` does not wait, since waiting would block the loop
    that writes: wait from another thread (``await asyncio.to_thread(provider.force_flush)``).

    Args:
        store: the store to record into (the caller's: the processor never closes it).
        session_id: record every span in this session; None: one session per
            conversation (``gen_ai.conversation.id``), else per trace (its id in hex).
        max_queue_size: the most spans queued; more are dropped.
        max_export_batch_size: the most spans written in one batch.
        schedule_delay_millis: how long a span may wait in the queue before it is written.

    Raises:
        InvalidSessionIdError: ``session_id`` is not a valid session id.
        InvalidArgumentError: a bad size or delay.
    """

    def __init__(
        self,
        store: Store | AsyncStore,
        *,
        session_id: str | None = None,
        max_queue_size: int = 2048,
        max_export_batch_size: int = 512,
        schedule_delay_millis: float = 1000,
    ) -> None:
        _check_sizes(max_queue_size, max_export_batch_size, schedule_delay_millis)
        self._store = store
        self._sessions = TraceSessions(
            None if session_id is None else validate_session_id(session_id)
        )
        self._max_queue_size = max_queue_size
        self._batch_size = max_export_batch_size
        self._delay = schedule_delay_millis / 1000
        self._dropped = 0
        self._warned = False
        self._closed = False
        self._start()
        os.register_at_fork(after_in_child=_restarter(self))

    @property
    def dropped(self) -> int:
        """How many GenAI spans were not recorded: dropped from a full queue, ended after
        :meth:`shutdown`, refused by the store or lost to a write that failed."""
        return self._dropped

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Remember the conversation of the span's trace, for its children that end first."""
        conversation = (span.attributes or {}).get(otel.CONVERSATION_ID)
        if isinstance(conversation, str) and conversation:
            self._sessions.note(span.context.trace_id, conversation)

    def on_end(self, span: ReadableSpan) -> None:
        """Queue a GenAI span to be recorded (never waits)."""
        if not is_genai(span.attributes):
            return
        if self._closed or len(self._queue) >= self._max_queue_size:
            self._drop(1, full=not self._closed)
            return
        self._queue.append(span)
        if len(self._queue) >= self._batch_size:
            self._wake.set()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Write the spans queued so far; False if they are not written within the timeout
        (or if called on the event loop of the AsyncStore, which would have to write them)."""
        if self._closed:
            return not self._queue
        if self._on_stores_loop():
            return False
        flushed = threading.Event()
        with self._lock:
            self._flushes.append(flushed)
        self._wake.set()
        return flushed.wait(timeout_millis / 1000)

    def shutdown(self) -> None:
        """Write what is queued (waiting 30 s at most) and stop; later spans are dropped.

        On the event loop of an AsyncStore, it does not wait: the loop writes them later.
        """
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        if not self._on_stores_loop():
            self._worker.join(30)

    def _on_stores_loop(self) -> bool:
        """Whether this thread runs the AsyncStore's loop, which must not wait for writes."""
        loop = self._store.loop if isinstance(self._store, AsyncStore) else None
        return loop is not None and running_loop() is loop

    def _start(self, *, forked: bool = False) -> None:
        # Also in a forked child, where the parent's queue is the parent's to write, and
        # its locks may have been held by a thread the child does not have.
        self._queue: collections.deque[ReadableSpan] = collections.deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._flushes: list[threading.Event] = []
        if forked:
            self._sessions.after_fork()
        self._worker = threading.Thread(
            target=self._work, name="agentstore-otel-record", daemon=True
        )
        self._worker.start()

    def _drop(self, count: int, *, full: bool = False) -> None:
        with self._lock:
            self._dropped += count
            warn, self._warned = full and not self._warned, self._warned or full
        if warn:
            logger.warning(
                "the queue of spans to record is full (%d spans): spans are dropped "
                "(RecordingSpanProcessor.dropped counts them)",
                self._max_queue_size,
            )

    def _work(self) -> None:
        # Writing must not make spans of its own (an instrumented HTTP client or database).
        attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        own_loop: asyncio.AbstractEventLoop | None = None
        try:
            while True:
                self._wake.wait(self._delay)
                self._wake.clear()
                with self._lock:
                    flushes, self._flushes = self._flushes, []
                closing = self._closed
                while self._queue:
                    count = min(self._batch_size, len(self._queue))
                    own_loop = self._record([self._queue.popleft() for _ in range(count)], own_loop)
                for flushed in flushes:
                    flushed.set()
                if closing:
                    return
        finally:
            if own_loop is not None:
                own_loop.close()

    def _record(
        self, spans: list[ReadableSpan], own_loop: asyncio.AbstractEventLoop | None
    ) -> asyncio.AbstractEventLoop | None:
        """Write a batch; returns the worker's own event loop, if an AsyncStore needed one."""
        batches, lost = self._sessions.plan(span_record(span) for span in spans)
        for batch in batches:
            try:
                if isinstance(self._store, AsyncStore):
                    refused, own_loop = _on_loop(self._store, batch, own_loop)
                else:
                    refused = write(self._store, batch)
            except Exception:  # logged and counted: the next batch goes on
                logger.exception("agentstore could not record spans in %s", batch.session_id)
                refused = len(batch.spans)
            lost += refused
        if lost:
            self._drop(lost)
        return own_loop


def _restarter(processor: RecordingSpanProcessor) -> Callable[[], None]:
    """What starts a processor's worker again in a forked child (if the processor lives)."""
    start = weakref.WeakMethod(processor._start)

    def restart() -> None:
        method = start()
        if method is not None:
            method(forked=True)

    return restart


def _on_loop(
    store: AsyncStore, batch: SessionBatch, own_loop: asyncio.AbstractEventLoop | None
) -> tuple[int, asyncio.AbstractEventLoop | None]:
    """Write a batch to an AsyncStore from the worker thread, on the store's loop (or on
    the worker's own, for a store of no loop)."""
    loop = store.loop
    if loop is None:
        own_loop = own_loop or asyncio.new_event_loop()
        return own_loop.run_until_complete(write_async(store, batch)), own_loop
    if not loop.is_running():
        raise RuntimeError("the AsyncStore's event loop is not running")
    future = asyncio.run_coroutine_threadsafe(write_async(store, batch), loop)
    return future.result(_ASYNC_WAIT), own_loop


def _check_sizes(queue: int, batch: int, delay: float) -> None:
    for name, value in (("max_queue_size", queue), ("max_export_batch_size", batch)):
        if type(value) is not int or value < 1:
            raise InvalidArgumentError(f"{name} must be an int of 1 or more, not {value!r}")
    if type(delay) not in (int, float) or not delay > 0:
        raise InvalidArgumentError(f"schedule_delay_millis must be above 0, not {delay!r}")
    if batch > queue:
        raise InvalidArgumentError(
            f"max_export_batch_size ({batch}) must not exceed max_queue_size ({queue})"
        )
