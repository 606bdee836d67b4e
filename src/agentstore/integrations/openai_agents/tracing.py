"""The OpenAI Agents SDK's spans recorded as agentstore events, by a tracing processor."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import orjson

from agentstore.errors import missing_extra

try:
    from agents.tracing import (
        AgentSpanData,
        FunctionSpanData,
        GenerationSpanData,
        GuardrailSpanData,
        HandoffSpanData,
        ResponseSpanData,
        Span,
        Trace,
        TracingProcessor,
        TurnSpanData,
    )
except ModuleNotFoundError as missing:
    raise missing_extra(missing, "openai-agents", "agentstore.integrations.openai_agents") from None

from agentstore.aio import AsyncStore
from agentstore.aio.loops import running_loop
from agentstore.events import Metadata
from agentstore.ids import validate_session_id
from agentstore.integrations.openai_agents.session import SOURCE_LABELS
from agentstore.integrations.openai_agents.tokens import Tokens, tokens_of
from agentstore.integrations.openai_agents.writers import (
    AsyncStoreWriter,
    Op,
    StoreWriter,
    Target,
)
from agentstore.recording.usage import extract_usage
from agentstore.sessions import check_labels, check_name
from agentstore.store import Store

__all__ = [
    "AGENT_END",
    "AGENT_GUARDRAIL",
    "AGENT_HANDOFF",
    "AGENT_START",
    "AgentStoreTracingProcessor",
]

AGENT_START = "agent.start"
"""An agent began a run: payload ``{"agent", "output_type"}``, the SDK's trace id
in ``metadata.extra["trace_id"]``."""
AGENT_END = "agent.end"
"""An agent finished: payload ``{"agent", "tools", "handoffs", "output_type"}``, its duration."""
AGENT_HANDOFF = "agent.handoff"
"""One agent handed the conversation to another: payload ``{"from_agent", "to_agent"}``."""
AGENT_GUARDRAIL = "agent.guardrail"
"""A guardrail ran: payload ``{"guardrail", "triggered"}``."""

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

# Spans can end after their trace (a tool task left running): the ids of the traces ended
# last are kept, to ignore those spans rather than start the trace's state again and keep
# it for good. 4096 ids take about 0.7 MB; a span later than that many traces is missed.
_ENDED_TRACES_KEPT = 4096


@dataclass(slots=True)
class _Turn:
    reported: Tokens = field(default_factory=Tokens)  # tokens its model spans gave
    waiting: list[Op] = field(default_factory=list)  # its model calls that gave none


@dataclass(slots=True)
class _TraceState:
    target: Target
    held: list[Op] = field(default_factory=list)  # behind a model call waiting for tokens
    turns: dict[str, _Turn] = field(default_factory=dict)
    parents: dict[str, str | None] = field(default_factory=dict)  # of the open spans
    tools_starting: list[Span[Any]] = field(default_factory=list)  # tool_called not yet recorded

    def enclosing_turn(self, span_id: str | None) -> _Turn | None:
        while span_id is not None and span_id not in self.turns:
            span_id = self.parents.get(span_id)
        return None if span_id is None else self.turns[span_id]


def _duration_ms(span: Span[Any]) -> float | None:
    if not span.started_at or not span.ended_at:
        return None
    took = datetime.fromisoformat(span.ended_at) - datetime.fromisoformat(span.started_at)
    return max(0.0, took.total_seconds() * 1000)


def _output_text(output: Sequence[Mapping[str, Any]] | None) -> str | None:
    # A generation span's output is a chat message, or a response as a dict.
    last = output[-1] if output else None
    if not isinstance(last, Mapping):
        return None
    content = last.get("content")
    if isinstance(content, str):
        return content
    usage = extract_usage(last)
    return None if usage is None else usage.content


def _arguments(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def _trace_session_id(trace_id: str) -> str:
    # The SDK's ids ("trace_<32 hex>") are valid session ids; a custom one is made valid.
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "-" for c in trace_id)
    return validate_session_id(cleaned.lstrip(".-")[:128] or "trace")


class AgentStoreTracingProcessor(TracingProcessor):
    """A tracing processor of the OpenAI Agents SDK that records runs as agentstore events.

    Install it with ``agents.tracing.set_trace_processors([processor])`` (which also keeps
    traces from being exported to OpenAI) or ``add_trace_processor(processor)``. Each span
    becomes events, through the store's recorder:

    - an agent span: ``agent.start``, then ``agent.end`` with its duration;
    - a model call (generation or response span): ``llm_request``, then ``llm_response``
      with the model, tokens (cached ones too), duration and cost (priced from the tokens);
    - a tool call (function span): ``tool_called`` with its arguments, then ``tool_result``;
    - a failed span: an ``error`` event in place of the result; handoffs and guardrails:
      ``agent.handoff`` and ``agent.guardrail``.

    Results and responses point at their requests (``metadata.cause_id``). Models that
    report their tokens only to the run, not on their spans (custom models, the SDK's
    ``ScriptedModel``), get the tokens of the turn their call belongs to; the events after
    such a call are written when its turn ends, so the timeline keeps its order.

    Each trace (one ``Runner.run``) is recorded into its own session, named after the
    workflow, with id its trace id and labels ``source``, ``workflow`` (and ``group_id``),
    or, with ``session_id``, every trace into that session (the session of an
    :class:`AgentStoreSession`, say). Sessions are created on first use.

    The SDK calls processors synchronously and a failure must not break a run: a write that
    fails is logged (logger ``agentstore.integrations.openai_agents``), never raised. With a
    :class:`~agentstore.Store` over files or a database, a worker thread writes, and the end
    of each trace waits (at most ``flush_timeout`` seconds) until the trace is stored, so
    when ``Runner.run`` returns the run can be read. With an
    :class:`~agentstore.aio.AsyncStore` the writes are tasks on its event loop, which a
    processor callback cannot wait for: ``await processor.flush()`` before reading.

    Args:
        store: the store to record into.
        session_id: record every trace into this session; None: one session per trace.
        name: the name of the sessions created (default: the trace's workflow name).
        labels: labels added to those of the sessions created.
        model: the model name of calls whose spans name none (models given as objects).
        provider: the provider of calls whose spans name none, for pricing.
        worker_id: the ``worker_id`` of the events recorded.
        loop: the event loop an AsyncStore is used from (default: the one it was opened
            on, else the running loop).
        flush_timeout: the longest wait for writes at the end of a trace and on flushes.

    Raises:
        InvalidSessionIdError: ``session_id`` is not a valid agentstore session id.
        ValueError: an AsyncStore whose event loop is closed or unknown, and no ``loop``.
    """

    def __init__(
        self,
        store: Store | AsyncStore,
        *,
        session_id: str | None = None,
        name: str = "",
        labels: Mapping[str, str] | None = None,
        model: str = "",
        provider: str = "",
        worker_id: str = "",
        loop: asyncio.AbstractEventLoop | None = None,
        flush_timeout: float = 10.0,
    ) -> None:
        self._session_id = None if session_id is None else validate_session_id(session_id)
        self._name = check_name(name)  # checked now: a bad one would fail every trace later
        self._labels = dict(check_labels(labels))
        self._model = model
        self._provider = provider
        self._flush_timeout = flush_timeout
        self._writer: StoreWriter | AsyncStoreWriter
        shared = self._session_id is not None
        if isinstance(store, AsyncStore):
            loop = loop or store.loop or running_loop()
            if loop is None or loop.is_closed():
                raise ValueError(
                    "an AsyncStore is used from the event loop it was opened on, and that "
                    "loop is closed or unknown: create the processor in it, or pass loop="
                )
            self._writer = AsyncStoreWriter(store, worker_id, loop, shared_session=shared)
        else:
            self._writer = StoreWriter(store, worker_id, shared_session=shared)
        self._lock = threading.Lock()  # spans may end in several threads at once
        self._traces: dict[str, _TraceState] = {}
        self._ended: OrderedDict[str, None] = OrderedDict()  # the last traces ended, oldest first
        self._closed = False

    # The TracingProcessor interface

    def on_trace_start(self, trace: Trace) -> None:
        """Note the trace's workflow name and group, for the session it is recorded in."""
        self._guarded(self._trace_started, trace)

    def on_trace_end(self, trace: Trace) -> None:
        """Write what the trace still holds; with a Store, wait until it is stored."""
        self._guarded(self._trace_ended, trace)
        # Waiting here, once per run, means that when Runner.run returns the run is stored.
        writer = self._writer
        stored = not isinstance(writer, StoreWriter) or writer.flush(self._flush_timeout)
        if not stored:
            logger.warning(
                "agentstore: trace %s not stored after %s s", trace.trace_id, self._flush_timeout
            )

    def on_span_start(self, span: Span[Any]) -> None:
        """Record the start of an agent, model call or tool call."""
        self._guarded(self._span_started, span)

    def on_span_end(self, span: Span[Any]) -> None:
        """Record the end of an agent, model call or tool call, or its error."""
        self._guarded(self._span_ended, span)

    def force_flush(self) -> None:
        """Wait (at most ``flush_timeout`` seconds) until every span so far is stored.

        With an AsyncStore, called on the store's event loop, it cannot wait without
        blocking the writes it waits for, and returns at once: ``await flush()`` there.
        """
        try:
            if isinstance(self._writer, StoreWriter):
                self._writer.flush(self._flush_timeout)
            elif running_loop() is not self._writer.loop:
                waiting = asyncio.run_coroutine_threadsafe(self._writer.flush(), self._writer.loop)
                waiting.result(self._flush_timeout)
        except Exception:
            logger.exception("agentstore: flushing the recorded spans failed")

    def shutdown(self, timeout: float | None = None) -> None:
        """Write what is queued (with a Store) and stop recording; later spans are ignored.

        Args:
            timeout: the longest wait for queued writes (default ``flush_timeout``).
        """
        with self._lock:
            self._closed = True
        if isinstance(self._writer, StoreWriter):
            self._writer.close(self._flush_timeout if timeout is None else timeout)

    async def flush(self) -> None:
        """Wait until every span recorded so far is stored (either kind of store).

        Raises:
            RuntimeError: with an AsyncStore, awaited on another event loop than the
                store's while the store's is not running (nothing would write the spans).
        """
        writer = self._writer
        if isinstance(writer, StoreWriter):
            await asyncio.to_thread(writer.flush, self._flush_timeout)
        else:
            await writer.flush()

    # From spans to recorder calls

    def _guarded(self, handle: Callable[[_T], None], item: _T) -> None:
        try:
            with self._lock:
                if self._closed:
                    return
                handle(item)
        except Exception:
            logger.exception("agentstore could not record a span of the OpenAI Agents SDK")

    def _trace_started(self, trace: Trace) -> None:
        exported = trace.export() or {}
        labels = {**SOURCE_LABELS, "workflow": trace.name}
        if isinstance(exported.get("group_id"), str):
            labels["group_id"] = exported["group_id"]
        session_id = self._session_id or _trace_session_id(trace.trace_id)
        target = Target(session_id, self._name or trace.name, {**labels, **self._labels})
        self._ended.pop(trace.trace_id, None)  # a custom trace id used again
        self._traces[trace.trace_id] = _TraceState(target)

    def _trace_ended(self, trace: Trace) -> None:
        self._ended[trace.trace_id] = None
        if len(self._ended) > _ENDED_TRACES_KEPT:
            self._ended.popitem(last=False)
        state = self._traces.get(trace.trace_id)
        if state is None:
            return
        self._record_tools_starting(state)
        del self._traces[trace.trace_id]
        for op in state.held:
            op.waiting = False
        self._release(state)
        self._writer.submit(Op(state.target, trace.trace_id, ""))

    def _state(self, trace_id: str) -> _TraceState:
        state = self._traces.get(trace_id)
        if state is None:  # a span of a trace that began before the processor was installed
            session_id = self._session_id or _trace_session_id(trace_id)
            labels = {**SOURCE_LABELS, **self._labels}
            state = self._traces[trace_id] = _TraceState(Target(session_id, self._name, labels))
        return state

    def _emit(self, span: Span[Any], method: str, key: str = "", /, **kwargs: Any) -> Op:
        refs: dict[str, str] = {
            name: kwargs.pop(name) for name in ("cause", "called", "request") if name in kwargs
        }
        state = self._state(span.trace_id)
        op = Op(state.target, span.trace_id, method, kwargs, key, refs)
        self._submit(state, op)
        return op

    def _submit(self, state: _TraceState, op: Op) -> None:
        if state.held or op.waiting:
            state.held.append(op)
        else:
            self._writer.submit(op)

    def _release(self, state: _TraceState) -> None:
        while state.held and not state.held[0].waiting:
            self._writer.submit(state.held.pop(0))

    def _live_state(self, span: Span[Any]) -> _TraceState | None:
        # Every span event of a trace records first the tool calls its trace has starting.
        if span.trace_id in self._ended:
            logger.debug("agentstore: span %s came after its trace ended", span.span_id)
            return None
        state = self._state(span.trace_id)
        self._record_tools_starting(state)
        return state

    def _record_tools_starting(self, state: _TraceState) -> None:
        # A tool's arguments are set on its span just after it starts, before anything else
        # happens in its trace: its tool_called waits for its trace's next event (its own end
        # at the latest), not for any event, as another thread's run may move in between.
        for span in state.tools_starting:
            data: FunctionSpanData = span.span_data
            fields = {"mcp_data": data.mcp_data} if data.mcp_data else {}
            arguments = _arguments(data.input)
            self._emit(
                span, "tool_called", span.span_id, name=data.name, arguments=arguments, **fields
            )
        state.tools_starting.clear()

    def _span_started(self, span: Span[Any]) -> None:
        state = self._live_state(span)
        if state is None:
            return
        data = span.span_data
        state.parents[span.span_id] = span.parent_id
        if isinstance(data, AgentSpanData):
            # Its tools and handoffs are known only at its end (they are in agent.end).
            payload = {"agent": data.name, "output_type": data.output_type}
            trace_ids = Metadata(extra={"trace_id": span.trace_id})
            self._emit(
                span, "record", span.span_id, type=AGENT_START, payload=payload, metadata=trace_ids
            )
        elif isinstance(data, GenerationSpanData | ResponseSpanData):
            model = data.model if isinstance(data, GenerationSpanData) else None
            model = model or self._model
            self._emit(span, "llm_request", span.span_id, model=model, provider=self._provider)
        elif isinstance(data, FunctionSpanData):
            state.tools_starting.append(span)
        elif isinstance(data, TurnSpanData):
            state.turns[span.span_id] = _Turn()

    def _span_ended(self, span: Span[Any]) -> None:
        state = self._live_state(span)
        if state is None:
            return
        data = span.span_data
        state.parents.pop(span.span_id, None)
        if isinstance(data, AgentSpanData):
            self._agent_ended(span, data)
        elif isinstance(data, GenerationSpanData | ResponseSpanData):
            self._model_call_ended(span, data)
        elif isinstance(data, FunctionSpanData):
            self._tool_ended(span, data)
        elif isinstance(data, TurnSpanData):
            self._turn_ended(span, data)
        elif isinstance(data, HandoffSpanData):
            payload = {"from_agent": data.from_agent, "to_agent": data.to_agent}
            self._emit(span, "record", type=AGENT_HANDOFF, payload=payload)
        elif isinstance(data, GuardrailSpanData):
            verdict = {"guardrail": data.name, "triggered": data.triggered}
            self._emit(span, "record", type=AGENT_GUARDRAIL, payload=verdict)

    def _agent_ended(self, span: Span[Any], data: AgentSpanData) -> None:
        if span.error:
            self._error(span, cause=span.span_id)
        payload = {
            "agent": data.name,
            "tools": data.tools,
            "handoffs": data.handoffs,
            "output_type": data.output_type,
        }
        took = _duration_ms(span)
        metadata = Metadata(duration_ms=round(took)) if took is not None else None
        self._emit(
            span, "record", type=AGENT_END, payload=payload, metadata=metadata, cause=span.span_id
        )

    def _tool_ended(self, span: Span[Any], data: FunctionSpanData) -> None:
        if span.error:
            self._error(span, cause=span.span_id, tool_name=data.name)
            return
        took = _duration_ms(span)
        self._emit(span, "tool_result", result=data.output, duration_ms=took, called=span.span_id)

    def _model_call_ended(
        self, span: Span[Any], data: GenerationSpanData | ResponseSpanData
    ) -> None:
        state = self._state(span.trace_id)
        tokens = tokens_of(data.usage)
        turn = state.enclosing_turn(span.parent_id)
        if turn is not None:
            turn.reported.add(tokens)
        if span.error and not tokens:
            self._error(span, cause=span.span_id)
            return
        # None, not "", where the span does not say: the response or the request then does.
        arguments: dict[str, Any] = {"model": None, "duration_ms": _duration_ms(span)}
        if isinstance(data, ResponseSpanData) and data.response is not None:
            arguments["response"] = data.response  # the recorder reads model and text from it
        elif isinstance(data, GenerationSpanData):
            arguments.update(model=data.model, content=_output_text(data.output))
        if tokens:
            arguments.update(tokens.arguments())
        request = {"request": span.span_id}
        op = Op(state.target, span.trace_id, "llm_response", arguments, refs=request)
        op.waiting = not tokens and turn is not None and not span.error
        if op.waiting and turn is not None:
            turn.waiting.append(op)
        self._submit(state, op)
        if span.error:
            self._error(span, cause=span.span_id)

    def _turn_ended(self, span: Span[Any], data: TurnSpanData) -> None:
        state = self._state(span.trace_id)
        turn = state.turns.pop(span.span_id, None)
        if turn is None:
            return
        unreported = tokens_of(data.usage).minus(turn.reported)
        for op in turn.waiting:
            if unreported:  # one model call per turn: the first waiting one takes them all
                op.kwargs.update(unreported.arguments())
                turn.reported.add(unreported)
                unreported = Tokens()
            op.waiting = False
        # A run inside a tool (an agent as a tool) adds its tokens to the outer turn's too:
        # what was recorded here is reported there, not given to the outer call again.
        outer = state.enclosing_turn(span.parent_id)
        if outer is not None:
            outer.reported.add(turn.reported)
        self._release(state)

    def _error(self, span: Span[Any], *, cause: str, tool_name: str = "") -> None:
        error = span.error or {"message": "error", "data": None}
        details = error.get("data") or {}
        detail = details.get("error") or details.get("message")
        text = error["message"]
        if isinstance(detail, str) and detail:
            text = f"{text}: {detail}"
        fields: dict[str, Any] = {"span_type": span.span_data.type}
        if details:
            fields["details"] = details
        took = _duration_ms(span)
        self._emit(
            span, "error", error=text, tool_name=tool_name, duration_ms=took, cause=cause, **fields
        )
