"""Sessions exported as OpenTelemetry GenAI traces, to any span exporter.

A session becomes one trace, as :mod:`agentstore.otel.conventions`' table says. The spans
are built by pure code (:func:`session_spans`) with the events' own times, and with ids
derived from the session's and its events' ids: a session exported twice is the same
trace, which a tracing backend that deduplicates keeps once. :func:`export_sessions` reads
each session a page at a time and hands its spans to the exporter as they are finished.

What the table leaves open is decided so:

- the root span is named by the session's name (``gen_ai.agent.name``), ``invoke_agent``
  alone for a session without one; its kind is INTERNAL (the agent ran in the process
  that recorded it); it starts at the session's creation or its first span, whichever
  is earlier, and ends at its last event. A fork's origin and the labels are
  ``agentstore.session.*`` attributes;
- an answer is paired with its call by ``cause_id``; an answer without one, with the
  unanswered call of the same ``tool_call_id`` (a tool result), else with the oldest
  unanswered call (of the same tool, for a tool result). An answer whose call is not
  found is a span of its own that starts ``duration_ms`` before it;
- an ``error`` whose ``cause_id`` names an unanswered call, a tool's or an LLM's, is that
  call's answer: its span ends at the error. Any other error is the root span's;
- a call never answered is a span of no length (it ends at its own time), marked
  ``agentstore.unanswered``: nothing says how long it ran;
- token counts are set when the answer's usage is known (``cost_source`` is not
  ``"unknown"``), the cache tokens when not 0;
- with content, messages take the conventions' shape (``{"role", "parts": [...]}``,
  text as ``{"type": "text", "content"}``); a message already in that shape, or a
  part of a type not known here, is kept as it is. A tool's arguments and result are
  JSON (text as it is), and so is the payload of an event of the root span
  (``agentstore.payload``).

Every attribute value is of an OpenTelemetry type: stored data is untrusted, so a field
of the wrong type is left out, and structured content is JSON text.
"""

from __future__ import annotations

import errno
import hashlib
import itertools
from collections.abc import Iterable, Iterator
from types import MappingProxyType
from typing import Any

from agentstore.errors import StorageError, missing_extra

try:
    from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import Event as SpanEvent
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
except ModuleNotFoundError as missing:
    raise missing_extra(missing, "otel", "agentstore.otel") from None

from agentstore import __version__, timestamps
from agentstore.events import Event
from agentstore.otel import conventions as gen_ai
from agentstore.otel.messages import input_messages, json_text, output_messages, text_of
from agentstore.sessions import Session
from agentstore.state import UNKNOWN_USAGE
from agentstore.store import Store

__all__ = [
    "ANSWER_ID",
    "ANSWER_SEQ",
    "COST_SOURCE",
    "DURATION_MS",
    "COST_USD",
    "EVENT_ID",
    "EVENT_SEQ",
    "PAYLOAD",
    "SESSION_FORKED_AT_SEQ",
    "SESSION_LABEL",
    "SESSION_PARENT_ID",
    "UNANSWERED",
    "WORKER_ID",
    "export_sessions",
    "session_resource",
    "session_spans",
    "session_trace_id",
]

# Facts with no GenAI name. A span of a call names its opening event (``llm_request``,
# ``tool_called``) by EVENT_ID and EVENT_SEQ and its answer by ANSWER_ID and ANSWER_SEQ;
# an event of a span (another event, an exception) names its own by EVENT_ID and EVENT_SEQ.
EVENT_ID = "agentstore.event.id"
EVENT_SEQ = "agentstore.event.seq"
ANSWER_ID = "agentstore.answer.id"
ANSWER_SEQ = "agentstore.answer.seq"
PAYLOAD = "agentstore.payload"  # content: sent only when asked
UNANSWERED = "agentstore.unanswered"
COST_USD = "agentstore.cost_usd"
COST_SOURCE = "agentstore.cost_source"
DURATION_MS = "agentstore.duration_ms"  # a call's own measure of its time
WORKER_ID = "agentstore.worker_id"
SESSION_PARENT_ID = "agentstore.session.parent_id"
SESSION_FORKED_AT_SEQ = "agentstore.session.forked_at_seq"
SESSION_LABEL = "agentstore.session.label."  # followed by the label's key

_SCOPE = InstrumentationScope("agentstore", __version__)
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_UNSET = Status(StatusCode.UNSET)
_CALLS = {"llm_request": gen_ai.CHAT, "tool_called": gen_ai.EXECUTE_TOOL}
_ANSWERS = {"llm_response": gen_ai.CHAT, "tool_result": gen_ai.EXECUTE_TOOL}
_MILLISECOND = 1_000_000  # in nanoseconds
_BATCH = 512  # spans per export, as the SDK's batch processor sends them


def session_trace_id(session_id: str) -> int:
    """The id of the trace a session is exported as: the same for the same session id."""
    return _hashed(session_id, b"agentstore.trace", 16)


def session_resource(service_name: str = "agentstore") -> Resource:
    """The resource of exported spans: ``service.name`` and ``OTEL_RESOURCE_ATTRIBUTES``.

    Without the SDK's random ``service.instance.id``: the spans describe the agent's run,
    not the process exporting them, and exporting them again gives the same resource.
    """
    return OTELResourceDetector().detect().merge(Resource({SERVICE_NAME: service_name}))


def session_spans(
    session: Session,
    events: Iterable[Event],
    *,
    include_content: bool = False,
    resource: Resource | None = None,
) -> list[ReadableSpan]:
    """The spans of ``session``, whose events (in seq order) are ``events``; the root last.

    Args:
        session: the session, as :meth:`agentstore.Store.get_session` returns it.
        events: its events, or some of them.
        include_content: add the messages, a tool's arguments and result, and other
            events' payloads (the conventions leave them out unless asked).
        resource: the spans' resource (:func:`session_resource` when None).
    """
    trace = _Trace(session, include_content, resource or session_resource())
    spans = [span for span in map(trace.add, events) if span is not None]
    return [*spans, *trace.finish()]


def export_sessions(
    store: Store,
    ids: Iterable[str],
    exporter: SpanExporter,
    *,
    include_content: bool = False,
    service_name: str = "agentstore",
) -> int:
    """Export each session as one trace to ``exporter``; return how many spans it took.

    Every session is looked up before any span is exported; each is then read a page at
    a time, its spans handed over in batches as they are finished (a long session is
    not held whole: only its unanswered calls and its root span's events are).

    Args:
        store: the store holding the sessions.
        ids: their ids (one given twice is exported once).
        exporter: any span exporter: OTLP, in memory, the console.
        include_content: see :func:`session_spans`.
        service_name: the resource's ``service.name``.

    Raises:
        SessionNotFoundError, InvalidSessionIdError: an id is not a session's; nothing
            was exported.
        StorageError: the exporter failed (``errno.ECOMM``; what it exported before
            stays exported).
    """
    sessions = [store.get_session(session_id) for session_id in dict.fromkeys(ids)]
    resource = session_resource(service_name)
    exported = 0
    for session in sessions:
        spans = _streamed(store, session, include_content, resource)
        while batch := list(itertools.islice(spans, _BATCH)):
            if exporter.export(batch) is not SpanExportResult.SUCCESS:
                raise StorageError(
                    errno.ECOMM,
                    f"the span exporter failed on session {session.id!r} "
                    f"(after exporting {exported} spans)",
                )
            exported += len(batch)
    return exported


def _streamed(
    store: Store, session: Session, include_content: bool, resource: Resource
) -> Iterator[ReadableSpan]:
    trace = _Trace(session, include_content, resource)
    for event in store.iter_events(session.id):
        span = trace.add(event)
        if span is not None:
            yield span
    yield from trace.finish()


class _Trace:
    """One session's trace, built an event at a time: each call's span as it is answered."""

    def __init__(self, session: Session, include_content: bool, resource: Resource) -> None:
        self._session = session
        self._content = include_content
        self._resource = resource
        self._trace_id = session_trace_id(session.id)
        self._root = self._context("")
        self._calls: dict[str, Event] = {}  # the unanswered calls by event id, oldest first
        self._tool_call_ids: dict[str, str] = {}  # their tool call ids' event ids
        self._events: list[SpanEvent] = []  # the root span's
        self._error: Event | None = None  # the root span's last
        created = timestamps.epoch_nanoseconds(session.created_at)
        self._start = self._end = created

    def add(self, event: Event) -> ReadableSpan | None:
        """Take the session's next event; return the span it finishes, if any."""
        time = event.timestamp_ns
        self._start, self._end = min(self._start, time), max(self._end, time)
        kind = event.type
        if kind in _CALLS:
            self._open(event)
            return None
        if kind in _ANSWERS:
            return self._span(_ANSWERS[kind], self._call_of(event), event)
        if kind == "error":
            call = self._calls.get(event.metadata.cause_id)
            if call is not None:
                return self._span(_CALLS[call.type], self._close(call), event)
            self._error = event
            self._events.append(self._exception(event))
            return None
        self._events.append(SpanEvent(kind, MappingProxyType(self._event_attributes(event)), time))
        return None

    def finish(self) -> list[ReadableSpan]:
        """The spans of the calls never answered, then the root span."""
        unanswered = [self._span(_CALLS[call.type], call, None) for call in self._calls.values()]
        self._calls.clear()
        return [*unanswered, self._root_span()]

    def _open(self, call: Event) -> None:
        self._calls[call.id] = call
        call_id = text_of(call.payload, "tool_call_id")
        if call.type == "tool_called" and call_id:
            self._tool_call_ids.setdefault(call_id, call.id)

    def _close(self, call: Event) -> Event:
        del self._calls[call.id]
        call_id = text_of(call.payload, "tool_call_id")
        if self._tool_call_ids.get(call_id) == call.id:
            del self._tool_call_ids[call_id]
        return call

    def _call_of(self, answer: Event) -> Event | None:
        """The unanswered call ``answer`` answers, closed, or None."""
        wanted = "llm_request" if answer.type == "llm_response" else "tool_called"
        cause = answer.metadata.cause_id
        if cause:
            call = self._calls.get(cause)
            return self._close(call) if call is not None and call.type == wanted else None
        if wanted == "tool_called":
            by_id = self._tool_call_ids.get(text_of(answer.payload, "tool_call_id"))
            if by_id is not None:
                return self._close(self._calls[by_id])
        tool = _tool_name(answer)
        for call in self._calls.values():
            if call.type == wanted and (not tool or _tool_name(call) in ("", tool)):
                return self._close(call)
        return None

    def _span(self, operation: str, call: Event | None, answer: Event | None) -> ReadableSpan:
        """The span of a call (``chat`` or ``execute_tool``): answered, unanswered, or of
        an answer whose call was not found."""
        first = call if call is not None else answer
        assert first is not None  # one of them at least
        start, end = _times(call, answer)
        self._start = min(self._start, start)
        if operation == gen_ai.CHAT:
            name, attributes = self._chat(call, answer)
        else:
            name, attributes = self._tool(call, answer)
        attributes.update(_ids(call, answer))
        # On every span, as instrumented agents send it: a trace sent in several requests
        # is still one conversation to a receiver that sees a child before its root.
        attributes[gen_ai.CONVERSATION_ID] = self._session.id
        if answer is None:
            attributes[UNANSWERED] = True
        attributes.update(_facts(first))
        if answer is not None:  # its own measure: the span's length is its events' times
            attributes[DURATION_MS] = answer.metadata.duration_ms
        events: tuple[SpanEvent, ...] = ()
        status = _UNSET
        if answer is not None and answer.type == "error":
            attributes[gen_ai.ERROR_TYPE] = _error_type(answer)
            events, status = (self._exception(answer),), _failed(answer)
        kind = SpanKind.CLIENT if operation == gen_ai.CHAT else SpanKind.INTERNAL
        context = self._context(first.id)
        return self._readable(name, context, kind, attributes, (start, end), events, status)

    def _chat(self, request: Event | None, answer: Event | None) -> tuple[str, dict[str, Any]]:
        response = answer if answer is not None and answer.type == "llm_response" else None
        attributes: dict[str, Any] = {gen_ai.OPERATION_NAME: gen_ai.CHAT}
        provider = request.metadata.provider if request is not None else ""
        provider = provider or (response.metadata.provider if response is not None else "")
        if provider:
            attributes[gen_ai.PROVIDER_NAME] = provider
        model = ""
        if request is not None:
            model = request.metadata.model or text_of(request.payload, "model")
            if model:
                attributes[gen_ai.REQUEST_MODEL] = model
            if self._content and _has(request.payload, "request"):
                messages = input_messages(request.payload["request"])
                attributes[gen_ai.INPUT_MESSAGES] = json_text(messages)
        if response is not None:
            model = model or response.metadata.model
            attributes.update(_usage(response))
            if self._content:
                attributes[gen_ai.OUTPUT_MESSAGES] = json_text(output_messages(response.payload))
        return (f"{gen_ai.CHAT} {model}" if model else gen_ai.CHAT), attributes

    def _tool(self, call: Event | None, answer: Event | None) -> tuple[str, dict[str, Any]]:
        attributes: dict[str, Any] = {gen_ai.OPERATION_NAME: gen_ai.EXECUTE_TOOL}
        tool = _tool_name(call) or _tool_name(answer)
        if tool:
            attributes[gen_ai.TOOL_NAME] = tool
        call_id = text_of(_payload(call), "tool_call_id")
        call_id = call_id or text_of(_payload(answer), "tool_call_id")
        if call_id:
            attributes[gen_ai.TOOL_CALL_ID] = call_id
        if self._content:
            arguments = _payload(call)
            if _has(arguments, "arguments"):
                attributes[gen_ai.TOOL_CALL_ARGUMENTS] = _content(arguments["arguments"])
            result: Any = None if answer is None or answer.type != "tool_result" else answer.payload
            if _has(result, "result"):
                attributes[gen_ai.TOOL_CALL_RESULT] = _content(result["result"])
        return (f"{gen_ai.EXECUTE_TOOL} {tool}" if tool else gen_ai.EXECUTE_TOOL), attributes

    def _root_span(self) -> ReadableSpan:
        session = self._session
        attributes: dict[str, Any] = {
            gen_ai.OPERATION_NAME: gen_ai.INVOKE_AGENT,
            gen_ai.CONVERSATION_ID: session.id,
        }
        if session.name:
            attributes[gen_ai.AGENT_NAME] = session.name
        if session.parent_id is not None:
            attributes[SESSION_PARENT_ID] = session.parent_id
            if session.forked_at_seq is not None:
                attributes[SESSION_FORKED_AT_SEQ] = session.forked_at_seq
        for key, value in session.labels.items():
            attributes[SESSION_LABEL + key] = value
        status = _UNSET
        if self._error is not None:
            attributes[gen_ai.ERROR_TYPE] = _error_type(self._error)
            status = _failed(self._error)
        name = f"{gen_ai.INVOKE_AGENT} {session.name}" if session.name else gen_ai.INVOKE_AGENT
        times, events = (self._start, self._end), tuple(self._events)
        return self._readable(
            name, self._root, SpanKind.INTERNAL, attributes, times, events, status
        )

    def _event_attributes(self, event: Event) -> dict[str, Any]:
        attributes: dict[str, Any] = {EVENT_ID: event.id, EVENT_SEQ: event.seq, **_facts(event)}
        if self._content:
            attributes[PAYLOAD] = json_text(event.payload)
        return attributes

    def _exception(self, error: Event) -> SpanEvent:
        """The ``exception`` event of an error: its type, message, id and seq (no payload)."""
        attributes: dict[str, Any] = {gen_ai.EXCEPTION_MESSAGE: _error_message(error)}
        error_type = text_of(error.payload, "error_type")
        if error_type:
            attributes[gen_ai.EXCEPTION_TYPE] = error_type
        attributes.update({EVENT_ID: error.id, EVENT_SEQ: error.seq, **_facts(error)})
        return SpanEvent(gen_ai.EXCEPTION, MappingProxyType(attributes), error.timestamp_ns)

    def _context(self, event_id: str) -> SpanContext:
        span_id = _hashed(f"{self._session.id}\n{event_id}", b"agentstore.span", 8)
        return SpanContext(self._trace_id, span_id, is_remote=False, trace_flags=_SAMPLED)

    def _readable(
        self,
        name: str,
        context: SpanContext,
        kind: SpanKind,
        attributes: dict[str, Any],
        times: tuple[int, int],
        events: tuple[SpanEvent, ...],
        status: Status,
    ) -> ReadableSpan:
        return ReadableSpan(
            name,
            context=context,
            parent=None if context is self._root else self._root,
            resource=self._resource,
            attributes=MappingProxyType(attributes),
            events=events,
            kind=kind,
            status=status,
            start_time=times[0],
            end_time=times[1],
            instrumentation_scope=_SCOPE,
        )


def _hashed(text: str, person: bytes, size: int) -> int:
    # Session ids hold no newline, so "<session id>\n<event id>" names one event alone.
    data = text.encode("utf-8", "surrogatepass")  # another writer's id may hold anything
    digest = hashlib.blake2b(data, digest_size=size, person=person).digest()
    return int.from_bytes(digest, "big") or 1  # 0 is OpenTelemetry's invalid id


def _times(call: Event | None, answer: Event | None) -> tuple[int, int]:
    """When a call's span starts and ends, in nanoseconds since the epoch."""
    if call is not None:
        start = call.timestamp_ns
        return start, start if answer is None else max(answer.timestamp_ns, start)
    assert answer is not None  # one of them at least
    end = answer.timestamp_ns
    return end - answer.metadata.duration_ms * _MILLISECOND, end


def _ids(call: Event | None, answer: Event | None) -> dict[str, Any]:
    ids: dict[str, Any] = {}
    if call is not None:
        ids[EVENT_ID], ids[EVENT_SEQ] = call.id, call.seq
    if answer is not None:
        ids[ANSWER_ID], ids[ANSWER_SEQ] = answer.id, answer.seq
    return ids


def _facts(event: Event) -> dict[str, Any]:
    """The facts of an event's metadata with no GenAI name, those that are set."""
    metadata = event.metadata
    facts: dict[str, Any] = {}
    if metadata.worker_id:
        facts[WORKER_ID] = metadata.worker_id
    if metadata.cost_usd:
        facts[COST_USD] = metadata.cost_usd
    if metadata.cost_source:
        facts[COST_SOURCE] = metadata.cost_source
    return facts


def _usage(response: Event) -> dict[str, Any]:
    metadata = response.metadata
    usage: dict[str, Any] = _facts(response)
    if metadata.model:
        usage[gen_ai.RESPONSE_MODEL] = metadata.model
    if metadata.cost_source != UNKNOWN_USAGE:
        usage[gen_ai.INPUT_TOKENS] = metadata.tokens_in
        usage[gen_ai.OUTPUT_TOKENS] = metadata.tokens_out
        if metadata.cache_read_tokens:
            usage[gen_ai.CACHE_READ_TOKENS] = metadata.cache_read_tokens
        if metadata.cache_write_tokens:
            usage[gen_ai.CACHE_WRITE_TOKENS] = metadata.cache_write_tokens
    return usage


def _failed(error: Event) -> Status:
    return Status(StatusCode.ERROR, _error_message(error))


def _error_type(error: Event) -> str:
    return text_of(error.payload, "error_type") or "_OTHER"  # the conventions' "no known type"


def _error_message(error: Event) -> str:
    payload = error.payload
    return _content(payload["error"] if _has(payload, "error") else payload)


def _tool_name(event: Event | None) -> str:
    if event is None:
        return ""
    return event.metadata.tool_name or text_of(event.payload, "tool")


def _payload(event: Event | None) -> Any:
    return None if event is None else event.payload


def _has(payload: Any, key: str) -> bool:
    return isinstance(payload, dict) and key in payload


def _content(value: Any) -> str:
    """Text as it is, anything else as JSON."""
    return value if isinstance(value, str) else json_text(value)
