"""The GenAI spans of an instrumented agent recorded as agentstore events.

Each finished span is read as a :class:`SpanRecord` (from the SDK's ``ReadableSpan`` by
:class:`~agentstore.otel.processor.RecordingSpanProcessor`, or decoded from OTLP by the
server's ``POST /v1/traces``) and becomes the events a
:class:`~agentstore.recording.Recorder` writes for the same call, by the mapping of
:mod:`agentstore.otel.conventions`:

- a model call (``chat``, ``text_completion``, ``generate_content``): ``llm_request``
  ``{"model", "request": {"messages"}?}``, then ``llm_response`` ``{"content",
  "tool_calls"?, "reasoning"?, "finish_reason"?, "response_id"?}`` (read from the output
  messages) with the model, provider, tokens (cache reads and writes too), duration and
  cost, priced from the tokens; a span that says nothing of its usage is recorded with
  its tokens unknown (``cost_source="unknown"``), not as free;
- a tool call (``execute_tool``): ``tool_called`` ``{"tool", "arguments",
  "tool_call_id"?}``, then ``tool_result`` ``{"tool", "result"}`` with its duration;
- a span with status ERROR: an ``error`` ``{"error", "error_type"?, "tool"?}`` from its
  ``exception`` event, in place of a call's answer; an agent's span, one per exception;
- an event of a span with ``agentstore.*`` attributes (an exported session's other
  events): an event of its name's type.

Messages, arguments and results are there when the instrumentation sends content; a JSON
object or array in an attribute is parsed. Spans that are not GenAI (no ``gen_ai.*``
attribute) are ignored. What only agentstore says (an event's id, the cost, the worker,
a call never answered) is read from the ``agentstore.*`` attributes of
:mod:`agentstore.otel.export`, so an exported session is recorded back as it was.

Every trace goes to one session: the ``gen_ai.conversation.id`` of its spans (a child span
may not carry it: the trace's is remembered, from its root's start for the processor),
else the trace id in hex. An event's id is the one its span gives, else one made of the
span's ids, so a span recorded twice (an OTLP export sent again) is stored once. A store
stamps each append with its own time: the events carry the time they are recorded, a
call's duration is in ``metadata.duration_ms``, and the events of a batch are appended
in the order of their own times (a call's request at its span's start, its answer at
its end).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from agentstore.errors import missing_extra

try:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.trace import StatusCode
except ModuleNotFoundError as missing:
    raise missing_extra(missing, "otel", "agentstore.otel") from None

from agentstore.errors import InvalidEventError
from agentstore.events import Event, Metadata, new_event
from agentstore.ids import validate_session_id
from agentstore.otel import conventions as otel
from agentstore.otel.export import (
    ANSWER_ID,
    COST_SOURCE,
    COST_USD,
    DURATION_MS,
    EVENT_ID,
    PAYLOAD,
    UNANSWERED,
    WORKER_ID,
)
from agentstore.recording.drafts import (
    Draft,
    error_draft,
    llm_request_draft,
    llm_response_draft,
    tool_called_draft,
    tool_result_draft,
)
from agentstore.sessions import MAX_NAME_LENGTH
from agentstore.state import UNKNOWN_USAGE

__all__ = [
    "SessionBatch",
    "SpanEventRecord",
    "SpanRecord",
    "TraceSessions",
    "is_genai",
    "span_events",
    "span_record",
]

logger = logging.getLogger(__name__)

_MODEL_CALLS = frozenset({otel.CHAT, "text_completion", "generate_content"})
_OURS = "agentstore."  # the prefix of the attributes of facts with no GenAI name
_NANOS_PER_MS = 1_000_000
_INT64 = 1 << 63
# Traces whose conversation is remembered: a span of a trace older than this many others
# goes to the trace's own session unless it names its conversation. 4096 take ~0.5 MB.
_KEPT = 4096


@dataclass(frozen=True, slots=True)
class SpanEventRecord:
    """An event of a span: its name, time (ns since the epoch) and attributes."""

    name: str
    time_ns: int
    attributes: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """A finished span, as the mapping reads it, whatever it came from.

    Ids are the trace's and the span's as integers; times are ns since the epoch;
    attribute values are OpenTelemetry's (str, bool, int, float, or a sequence of them).
    """

    trace_id: int
    span_id: int
    name: str
    start_ns: int
    end_ns: int
    attributes: Mapping[str, Any]
    events: Sequence[SpanEventRecord] = ()
    error: bool = False
    status_message: str = ""

    @property
    def duration_ms(self) -> float:
        """How long the call took, in milliseconds: as an exported session's answer says
        (its own measure, not the time between its events), else the span's length."""
        said = self.attributes.get(DURATION_MS)
        if type(said) is int and said >= 0:
            return said
        return max(self.end_ns - self.start_ns, 0) / _NANOS_PER_MS


def span_record(span: ReadableSpan) -> SpanRecord:
    """The record of a finished span of the SDK."""
    context = span.context
    start = span.start_time or 0
    return SpanRecord(
        trace_id=context.trace_id if context else 0,
        span_id=context.span_id if context else 0,
        name=span.name,
        start_ns=start,
        end_ns=span.end_time or start,
        attributes=span.attributes or {},
        events=[
            SpanEventRecord(event.name, event.timestamp, event.attributes or {})
            for event in span.events
        ],
        error=span.status.status_code is StatusCode.ERROR,
        status_message=span.status.description or "",
    )


def is_genai(attributes: Mapping[str, Any] | None) -> bool:
    """Whether a span with these attributes is a GenAI one (any ``gen_ai.*`` attribute)."""
    if not attributes:
        return False
    return otel.OPERATION_NAME in attributes or any(key.startswith("gen_ai.") for key in attributes)


# The mapping: one span to its events, with their times.

_Timed = tuple[int, Event]


def span_events(span: SpanRecord) -> list[_Timed]:
    """The events a span records, each with its time (ns), in their order.

    Raises:
        InvalidEventError: a value of the span cannot be stored (text that is not Unicode,
            an event of a span named by no event type).
    """
    operation = _operation(span.attributes)
    if operation in _MODEL_CALLS:
        calls = _model_call(span)
    elif operation == otel.EXECUTE_TOOL:
        calls = _tool_call(span)
    else:  # an agent's span, or another operation's: only its failures are events
        calls = _failures(span)
    return _own_events(span) + calls


def _operation(attributes: Mapping[str, Any]) -> str:
    named = attributes.get(otel.OPERATION_NAME)
    if isinstance(named, str) and named:
        return named
    if otel.TOOL_NAME in attributes:
        return otel.EXECUTE_TOOL
    if otel.REQUEST_MODEL in attributes or otel.INPUT_TOKENS in attributes:
        return otel.CHAT
    return ""


def _model_call(span: SpanRecord) -> list[_Timed]:
    attributes = span.attributes
    worker = _text(attributes, WORKER_ID)
    model = _text(attributes, otel.REQUEST_MODEL) or _text(attributes, otel.RESPONSE_MODEL)
    provider = _text(attributes, otel.PROVIDER_NAME) or _text(attributes, otel.SYSTEM)
    asked = attributes.get(otel.INPUT_MESSAGES)
    messages = None if asked is None else {"messages": _content(asked)}
    drafted = llm_request_draft(model, messages, provider, {}, worker)
    request = _event(span, EVENT_ID, "request", drafted)
    if attributes.get(UNANSWERED) is True:
        return [(span.start_ns, request)]
    if span.error:
        return [(span.start_ns, request), (span.end_ns, _error(span, "", request))]
    given = _usage(attributes)
    given["model"] = _text(attributes, otel.RESPONSE_MODEL) or None
    given["duration_ms"] = span.duration_ms
    given["content"], fields = _answer(_content(attributes.get(otel.OUTPUT_MESSAGES)))
    if _text(attributes, otel.RESPONSE_ID):
        fields["response_id"] = attributes[otel.RESPONSE_ID]
    kind, payload, metadata = llm_response_draft(
        request, None, given, fields, worker=worker, priced=True
    )
    source = _text(attributes, COST_SOURCE)
    if source and "cost_usd" in given:  # what priced it, as exported (else: the caller)
        metadata = dataclasses.replace(metadata, cost_source=source)
    response = _event(span, ANSWER_ID, "response", (kind, payload, metadata))
    return [(span.start_ns, request), (span.end_ns, response)]


def _usage(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The tokens and cost a model call's span gives, as a response draft takes them."""
    tokens_in = _count(attributes, otel.INPUT_TOKENS)
    tokens_out = _count(attributes, otel.OUTPUT_TOKENS)
    cached = _count(attributes, otel.CACHE_READ_TOKENS) or 0
    written = _count(attributes, otel.CACHE_WRITE_TOKENS) or 0
    given: dict[str, Any] = {"cache_read_tokens": cached, "cache_write_tokens": written}
    if (tokens_in or 0) < cached + written:
        # Counted apart from the input tokens, as Anthropic's API does: tokens_in has all.
        tokens_in = (tokens_in or 0) + cached + written
    given["tokens_in"], given["tokens_out"] = tokens_in, tokens_out
    cost = _cost(attributes)
    if cost is not None:
        given["cost_usd"] = cost
    elif tokens_in is None and tokens_out is None:
        given["cost_source"] = UNKNOWN_USAGE  # not said, so unknown: not free
    return given


def _answer(messages: Any) -> tuple[str | None, dict[str, Any]]:
    """The text of output messages (the conventions' shape), and the payload fields of
    their tool calls, reasoning and finish reason."""
    if isinstance(messages, str):
        return messages, {}
    texts: list[str] = []
    reasoning: list[str] = []
    calls: list[dict[str, Any]] = []
    fields: dict[str, Any] = {}
    for message in messages if isinstance(messages, list) else ():
        parts = message.get("parts") if isinstance(message, dict) else None
        if not isinstance(parts, list):
            if isinstance(message, dict) and isinstance(message.get("content"), str):
                texts.append(message["content"])  # a chat message of an older shape
            continue
        if isinstance(message.get("finish_reason"), str):
            fields["finish_reason"] = message["finish_reason"]
        for part in parts:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "tool_call":
                calls.append({key: part[key] for key in ("id", "name", "arguments") if key in part})
            elif kind in ("text", "reasoning") and isinstance(part.get("content"), str):
                (texts if kind == "text" else reasoning).append(part["content"])
    if calls:
        fields["tool_calls"] = calls
    if reasoning:
        fields["reasoning"] = "\n".join(reasoning)
    return ("\n".join(texts) if texts else None), fields


def _tool_call(span: SpanRecord) -> list[_Timed]:
    attributes = span.attributes
    worker = _text(attributes, WORKER_ID)
    name = _text(attributes, otel.TOOL_NAME) or span.name.removeprefix(otel.EXECUTE_TOOL).strip()
    call_id = _text(attributes, otel.TOOL_CALL_ID)
    arguments = _content(attributes.get(otel.TOOL_CALL_ARGUMENTS))
    fields = {"tool_call_id": call_id} if call_id else {}
    called = _event(span, EVENT_ID, "called", tool_called_draft(name, arguments, fields, worker))
    if attributes.get(UNANSWERED) is True:
        return [(span.start_ns, called)]
    if span.error:
        return [(span.start_ns, called), (span.end_ns, _error(span, name, called))]
    result = _content(attributes.get(otel.TOOL_CALL_RESULT))
    answer = tool_result_draft(called, result, span.duration_ms, {}, worker)
    return [(span.start_ns, called), (span.end_ns, _event(span, ANSWER_ID, "result", answer))]


def _error(span: SpanRecord, tool: str, call: Event) -> Event:
    """The ``error`` that answers a failed call, from its (first) exception event."""
    exception = next((event for event in span.events if event.name == otel.EXCEPTION), None)
    return _event(span, ANSWER_ID, "error", _error_draft(span, exception, tool, call))


def _failures(span: SpanRecord) -> list[_Timed]:
    """The errors of a failed span that is not a call's (an agent's): one per exception
    event, or one from its status."""
    if not span.error:
        return []
    exceptions = [event for event in span.events if event.name == otel.EXCEPTION]
    if not exceptions:
        return [(span.end_ns, _event(span, "", "error", _error_draft(span, None, "", None)))]
    return [
        (event.time_ns, _named_event(span, event, index, _error_draft(span, event, "", None)))
        for index, event in enumerate(exceptions)
    ]


def _error_draft(
    span: SpanRecord, exception: SpanEventRecord | None, tool: str, call: Event | None
) -> Draft:
    said = exception.attributes if exception is not None else {}
    kind = _text(said, otel.EXCEPTION_TYPE) or _text(span.attributes, otel.ERROR_TYPE)
    kind = "" if kind == "_OTHER" else kind  # the conventions' "no type known"
    message = _text(said, otel.EXCEPTION_MESSAGE) or span.status_message
    fields = {"error_type": kind.rpartition(".")[2]} if kind else {}  # a class's own name
    return error_draft(
        message or kind or f"{span.name} failed",
        tool_name=tool,
        cause=call,
        duration_ms=None if call is None else span.duration_ms,
        fields=fields,
        worker=_text(said, WORKER_ID) or _text(span.attributes, WORKER_ID),
    )


def _own_events(span: SpanRecord) -> list[_Timed]:
    """The span's events that are agentstore events (an exported session's other events:
    named by their type, with ``agentstore.*`` attributes)."""
    found = []
    for index, event in enumerate(span.events):
        attributes = event.attributes
        if event.name == otel.EXCEPTION or not any(key.startswith(_OURS) for key in attributes):
            continue
        cost = _cost(attributes)
        metadata = Metadata(
            worker_id=_text(attributes, WORKER_ID),
            cost_usd=0.0 if cost is None else cost,
            cost_source=_text(attributes, COST_SOURCE),
        )
        payload = _content(attributes.get(PAYLOAD), parsed=True)
        draft = (event.name, payload, metadata)
        found.append((event.time_ns, _named_event(span, event, index, draft)))
    return found


def _event(span: SpanRecord, id_key: str, part: str, draft: Draft) -> Event:
    """The event of a draft, with the id the span gives it, else one made of its ids."""
    given = _given_id(span.attributes.get(id_key)) if id_key else ""
    kind, payload, metadata = draft
    event_id = given or f"{span.trace_id:032x}.{span.span_id:016x}.{part}"
    return new_event(kind, payload, metadata=metadata, id=event_id)


def _named_event(span: SpanRecord, event: SpanEventRecord, index: int, draft: Draft) -> Event:
    """The event of a draft made from an event of a span, with the id it gives."""
    kind, payload, metadata = draft
    event_id = _given_id(event.attributes.get(EVENT_ID))
    event_id = event_id or f"{span.trace_id:032x}.{span.span_id:016x}.event{index}"
    return new_event(kind, payload, metadata=metadata, id=event_id)


def _given_id(value: Any) -> str:
    return value if isinstance(value, str) and 0 < len(value) <= 128 and "\x00" not in value else ""


def _text(attributes: Mapping[str, Any], key: str) -> str:
    value = attributes.get(key)
    return value if isinstance(value, str) else ""


def _count(attributes: Mapping[str, Any], key: str) -> int | None:
    value = attributes.get(key)
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a JSON number another exporter wrote as a float
    if type(value) is int and 0 <= value < _INT64:
        return value
    return None


def _cost(attributes: Mapping[str, Any]) -> float | None:
    cost = attributes.get(COST_USD)
    if isinstance(cost, (int, float)) and not isinstance(cost, bool) and 0 <= cost < 1e9:
        return float(cost)
    return None


def _content(value: Any, *, parsed: bool = False) -> Any:
    """An attribute's value as JSON: JSON text parsed (with ``parsed``, any; else only an
    object or an array: a string that merely looks like a number stays a string)."""
    if isinstance(value, str) and (parsed or value[:1] in ("{", "[")):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return list(value) if isinstance(value, (tuple, list)) else value


# Sessions: which session each trace's events go to.


@dataclass(slots=True)
class SessionBatch:
    """The events of a batch of spans that go to one session, with the session's name."""

    session_id: str
    name: str
    spans: list[list[_Timed]] = field(default_factory=list)

    def events(self) -> list[Event]:
        """The events in the order of their times (a span's own order kept for ties)."""
        timed = sorted(
            (
                (time, order, index, event)
                for order, span in enumerate(self.spans)
                for index, (time, event) in enumerate(span)
            ),
            key=lambda item: item[:3],
        )
        return [event for *_, event in timed]


class TraceSessions:
    """Which session each trace is recorded in.

    A trace's conversation is remembered for the last :data:`_KEPT` traces, across
    batches (and across the requests of a server). Safe to share between threads.

    Args:
        session_id: record every trace in this session; None: by conversation or trace.
    """

    def __init__(self, session_id: str | None = None) -> None:
        self._session_id = session_id
        self._traces: dict[int, str] = {}
        self._lock = threading.Lock()

    def note(self, trace_id: int, conversation: str) -> None:
        """Remember the conversation a trace belongs to (its first one noted wins)."""
        with self._lock:
            if trace_id not in self._traces:
                self._traces[trace_id] = _conversation_session(conversation)
                if len(self._traces) > _KEPT:
                    del self._traces[next(iter(self._traces))]  # the oldest

    def plan(self, spans: Iterable[SpanRecord]) -> tuple[list[SessionBatch], int]:
        """The events of ``spans`` grouped by session, and how many spans were rejected.

        Spans that are not GenAI are left out; a span whose values cannot be stored is
        rejected (and logged).
        """
        kept = [span for span in spans if is_genai(span.attributes)]
        for span in kept:
            conversation = _text(span.attributes, otel.CONVERSATION_ID)
            if conversation:
                self.note(span.trace_id, conversation)
        batches: dict[str, SessionBatch] = {}
        rejected = 0
        for span in kept:
            session_id = self._session_of(span)
            batch = batches.get(session_id)
            if batch is None:
                batch = batches[session_id] = SessionBatch(session_id, "")
            batch.name = batch.name or _agent_name(span)  # an agent's span has no events
            events = _events_or_none(span)
            if events is None:
                rejected += 1
            elif events:
                batch.spans.append(events)
        return [batch for batch in batches.values() if batch.spans], rejected

    def after_fork(self) -> None:
        """In a forked child: a lock of its own (the parent's may have been held)."""
        self._lock = threading.Lock()

    def _session_of(self, span: SpanRecord) -> str:
        if self._session_id is not None:
            return self._session_id
        conversation = _text(span.attributes, otel.CONVERSATION_ID)
        if conversation:
            return _conversation_session(conversation)
        with self._lock:
            return self._traces.get(span.trace_id) or f"{span.trace_id:032x}"


def _events_or_none(span: SpanRecord) -> list[_Timed] | None:
    """The events of a span, or None (logged) if it cannot be recorded."""
    try:
        return span_events(span)
    except InvalidEventError as error:
        logger.warning("agentstore cannot record the span %r: %s", span.name[:100], error)
    except Exception:  # a span of a shape not foreseen: it alone is lost
        logger.exception("agentstore could not read the span %r", span.name[:100])
    return None


def _conversation_session(conversation: str) -> str:
    """The session id of a conversation id: itself, or made valid with a hash of it."""
    try:
        return validate_session_id(conversation)
    except ValueError:
        digest = hashlib.sha256(conversation.encode("utf-8", "replace")).hexdigest()[:16]
        cleaned = "".join(
            c if c.isascii() and (c.isalnum() or c in "._-") else "-" for c in conversation
        )
        return f"{cleaned.lstrip('.-')[:100]}-{digest}".lstrip("-")


def _agent_name(span: SpanRecord) -> str:
    name = _text(span.attributes, otel.AGENT_NAME)
    if not name and _text(span.attributes, otel.OPERATION_NAME) == otel.INVOKE_AGENT:
        name = span.name.removeprefix(otel.INVOKE_AGENT).strip()
    return name.replace("\x00", "")[:MAX_NAME_LENGTH]


# Writing: one append per session per batch.
