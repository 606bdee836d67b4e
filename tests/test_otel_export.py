"""Sessions exported as OpenTelemetry GenAI traces: the spans, and the command that sends them.

The spans are checked as an exporter receives them (the SDK's in-memory exporter) against
the table of :mod:`agentstore.otel.conventions`, for a session a recorder wrote with
every event type; the command is run as a user runs it, sending to a small OTLP/HTTP
receiver on this machine.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import agentstore
from agentstore import (
    Event,
    EventType,
    Metadata,
    SessionNotFoundError,
    StorageError,
    Store,
    new_event,
    timestamps,
)
from agentstore.otel import conventions as gen_ai
from agentstore.otel import export_sessions, session_spans, session_trace_id
from agentstore.otel.export import (
    ANSWER_ID,
    ANSWER_SEQ,
    COST_SOURCE,
    COST_USD,
    DURATION_MS,
    EVENT_ID,
    EVENT_SEQ,
    PAYLOAD,
    SESSION_LABEL,
    UNANSWERED,
    WORKER_ID,
)

from .commands import COMMANDS
from .test_cli import AGENTSTORE
from .test_packaging import _import_without

CONTENT = (
    gen_ai.INPUT_MESSAGES,
    gen_ai.OUTPUT_MESSAGES,
    gen_ai.TOOL_CALL_ARGUMENTS,
    gen_ai.TOOL_CALL_RESULT,
    PAYLOAD,
)
MS = 1_000_000  # nanoseconds


@pytest.fixture
def store() -> Iterator[Store]:
    with agentstore.open(":memory:") as opened:
        yield opened


def record_trip(store: Store) -> str:
    """An agent's run with every event type, as the recorder writes them."""
    session = store.create_session(name="travel-agent", labels={"env": "test"})
    recorder = store.recorder(session.id, worker_id="worker-1", price=False)
    recorder.user_message("Berlin to Munich on Friday")
    recorder.plan(["search", "book"])
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Go"}]
    with recorder.llm_call("gpt-4o", {"messages": messages}, provider="openai") as llm:
        llm.set_response(
            content="Searching.",
            model="gpt-4o-2024-08-06",
            tokens_in=1200,
            tokens_out=40,
            cache_read_tokens=1000,
            cache_write_tokens=100,
            cost_usd=0.0042,
        )
    called = recorder.tool_called("search_flights", {"route": "BER-MUC"}, tool_call_id="call_1")
    recorder.tool_result(called, ["LH1234", "EW8001"], duration_ms=800)
    with pytest.raises(TimeoutError), recorder.tool_call("book_flight", {"flight": "LH1234"}):
        raise TimeoutError("booking timed out")
    recorder.state({"booked": False})
    recorder.record("handoff", {"to": "human"})
    recorder.record(EventType.CUSTOM, {"note": "escalated"})
    recorder.error(ValueError("no seats left"))
    recorder.llm_request("gpt-4o", "Anything else?", provider="openai")  # never answered
    return session.id


def exported(store: Store, *ids: str, include_content: bool = False) -> list[ReadableSpan]:
    exporter = InMemorySpanExporter()
    count = export_sessions(store, ids, exporter, include_content=include_content)
    spans = list(exporter.get_finished_spans())
    assert count == len(spans)
    return spans


def events_of(store: Store, session_id: str) -> dict[str, list[Event]]:
    found: dict[str, list[Event]] = {}
    for event in store.get_events(session_id):
        found.setdefault(event.type, []).append(event)
    return found


def named(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    (span,) = [span for span in spans if span.name == name]
    return span


def attributes(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


def times(span: ReadableSpan) -> tuple[int, int]:
    assert span.start_time is not None
    assert span.end_time is not None
    return span.start_time, span.end_time


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.span_id)


# The trace


def test_a_session_is_one_trace_under_an_invoke_agent_span(store: Store) -> None:
    session_id = record_trip(store)
    spans = exported(store, session_id)
    session, events = store.get_session(session_id), store.get_events(session_id)
    root = spans[-1]
    assert root.name == "invoke_agent travel-agent"
    assert root.kind is SpanKind.INTERNAL
    assert root.parent is None
    assert attributes(root) == {
        gen_ai.OPERATION_NAME: gen_ai.INVOKE_AGENT,
        gen_ai.CONVERSATION_ID: session_id,
        gen_ai.AGENT_NAME: "travel-agent",
        SESSION_LABEL + "env": "test",
        gen_ai.ERROR_TYPE: "ValueError",
    }
    created = timestamps.epoch_nanoseconds(session.created_at)
    assert root.start_time == min(created, events[0].timestamp_ns)
    assert root.end_time == events[-1].timestamp_ns
    assert root.context is not None
    assert {span.context.trace_id for span in spans if span.context} == {
        session_trace_id(session_id)
    }
    for span in spans[:-1]:
        assert span.parent is not None
        assert span.parent.span_id == root.context.span_id
        (start, end), (root_start, root_end) = times(span), times(root)
        assert root_start <= start <= end <= root_end
    assert len({span_id(span) for span in spans}) == len(spans)
    assert root.resource.attributes["service.name"] == "agentstore"


def test_an_llm_call_is_a_chat_span_with_models_provider_and_tokens(store: Store) -> None:
    session_id = record_trip(store)
    spans = exported(store, session_id)
    request = events_of(store, session_id)["llm_request"][0]
    response = events_of(store, session_id)["llm_response"][0]
    chat = spans[0]
    assert chat.name == "chat gpt-4o"
    assert chat.kind is SpanKind.CLIENT
    assert (chat.start_time, chat.end_time) == (request.timestamp_ns, response.timestamp_ns)
    assert chat.status.status_code is StatusCode.UNSET
    assert attributes(chat) == {
        gen_ai.OPERATION_NAME: gen_ai.CHAT,
        gen_ai.CONVERSATION_ID: session_id,
        DURATION_MS: response.metadata.duration_ms,
        gen_ai.PROVIDER_NAME: "openai",
        gen_ai.REQUEST_MODEL: "gpt-4o",
        gen_ai.RESPONSE_MODEL: "gpt-4o-2024-08-06",
        gen_ai.INPUT_TOKENS: 1200,
        gen_ai.OUTPUT_TOKENS: 40,
        gen_ai.CACHE_READ_TOKENS: 1000,
        gen_ai.CACHE_WRITE_TOKENS: 100,
        COST_USD: 0.0042,
        COST_SOURCE: "caller",
        WORKER_ID: "worker-1",
        EVENT_ID: request.id,
        EVENT_SEQ: request.seq,
        ANSWER_ID: response.id,
        ANSWER_SEQ: response.seq,
    }


def test_a_tool_call_is_an_execute_tool_span_with_its_call_id(store: Store) -> None:
    session_id = record_trip(store)
    spans = exported(store, session_id)
    called, result = (
        events_of(store, session_id)[kind][0] for kind in ("tool_called", "tool_result")
    )
    tool = named(spans, "execute_tool search_flights")
    assert tool.kind is SpanKind.INTERNAL
    assert (tool.start_time, tool.end_time) == (called.timestamp_ns, result.timestamp_ns)
    assert attributes(tool) == {
        gen_ai.OPERATION_NAME: gen_ai.EXECUTE_TOOL,
        gen_ai.CONVERSATION_ID: session_id,
        DURATION_MS: result.metadata.duration_ms,
        gen_ai.TOOL_NAME: "search_flights",
        gen_ai.TOOL_CALL_ID: "call_1",
        WORKER_ID: "worker-1",
        EVENT_ID: called.id,
        EVENT_SEQ: called.seq,
        ANSWER_ID: result.id,
        ANSWER_SEQ: result.seq,
    }


def test_a_failed_call_has_status_error_and_an_exception_event(store: Store) -> None:
    session_id = record_trip(store)
    spans = exported(store, session_id)
    called = events_of(store, session_id)["tool_called"][1]
    error = events_of(store, session_id)["error"][0]
    assert error.metadata.cause_id == called.id
    tool = named(spans, "execute_tool book_flight")
    assert (tool.start_time, tool.end_time) == (called.timestamp_ns, error.timestamp_ns)
    assert tool.status.status_code is StatusCode.ERROR
    assert tool.status.description == "booking timed out"
    assert attributes(tool)[gen_ai.ERROR_TYPE] == "TimeoutError"
    assert attributes(tool)[ANSWER_ID] == error.id
    (exception,) = tool.events
    assert exception.name == "exception"
    assert exception.timestamp == error.timestamp_ns
    assert attributes(exception) == {
        gen_ai.EXCEPTION_TYPE: "TimeoutError",
        gen_ai.EXCEPTION_MESSAGE: "booking timed out",
        EVENT_ID: error.id,
        EVENT_SEQ: error.seq,
        WORKER_ID: "worker-1",
    }


def test_an_error_of_no_call_fails_the_root_span(store: Store) -> None:
    session_id = record_trip(store)
    root = exported(store, session_id)[-1]
    error = events_of(store, session_id)["error"][1]
    assert root.status.status_code is StatusCode.ERROR
    assert root.status.description == "no seats left"
    (exception,) = [event for event in root.events if event.name == "exception"]
    assert exception.timestamp == error.timestamp_ns
    assert attributes(exception)[gen_ai.EXCEPTION_TYPE] == "ValueError"
    assert attributes(exception)[EVENT_ID] == error.id


def test_other_events_are_events_of_the_root_span_in_order(store: Store) -> None:
    session_id = record_trip(store)
    root = exported(store, session_id)[-1]
    others = [
        event
        for event in store.get_events(session_id)
        if event.type not in ("llm_request", "llm_response", "tool_called", "tool_result")
        and event.metadata.cause_id == ""
    ]
    names = [event.name for event in root.events]
    assert names == [
        "user_message",
        "plan_created",
        "state_updated",
        "handoff",
        "custom",
        "exception",
    ]
    assert [event.timestamp for event in root.events] == [e.timestamp_ns for e in others]
    first = root.events[0]
    assert attributes(first) == {EVENT_ID: others[0].id, EVENT_SEQ: 1, WORKER_ID: "worker-1"}


def test_a_call_never_answered_is_a_span_of_no_length(store: Store) -> None:
    session_id = record_trip(store)
    spans = exported(store, session_id)
    request = events_of(store, session_id)["llm_request"][1]
    (unanswered,) = [span for span in spans if attributes(span).get(UNANSWERED)]
    assert unanswered.name == "chat gpt-4o"
    assert unanswered.start_time == unanswered.end_time == request.timestamp_ns
    assert attributes(unanswered)[EVENT_ID] == request.id
    assert ANSWER_ID not in attributes(unanswered)
    assert gen_ai.INPUT_TOKENS not in attributes(unanswered)


# Content


def _everything(spans: Sequence[ReadableSpan]) -> list[dict[str, Any]]:
    """The attributes of every span and span event."""
    found = [attributes(span) for span in spans]
    return found + [attributes(event) for span in spans for event in span.events]


def test_content_is_sent_only_when_asked(store: Store) -> None:
    session_id = record_trip(store)
    for found in _everything(exported(store, session_id)):
        assert not set(CONTENT) & set(found), found
    spans = exported(store, session_id, include_content=True)
    chat = attributes(spans[0])
    assert chat[gen_ai.INPUT_MESSAGES] == (
        '[{"role":"system","parts":[{"type":"text","content":"Be brief."}]},'
        '{"role":"user","parts":[{"type":"text","content":"Go"}]}]'
    )
    assert chat[gen_ai.OUTPUT_MESSAGES] == (
        '[{"role":"assistant","parts":[{"type":"text","content":"Searching."}]}]'
    )
    tool = attributes(named(spans, "execute_tool search_flights"))
    assert tool[gen_ai.TOOL_CALL_ARGUMENTS] == '{"route":"BER-MUC"}'
    assert tool[gen_ai.TOOL_CALL_RESULT] == '["LH1234","EW8001"]'
    unanswered = attributes(spans[3])
    assert unanswered[gen_ai.INPUT_MESSAGES] == (
        '[{"role":"user","parts":[{"type":"text","content":"Anything else?"}]}]'
    )
    first = spans[-1].events[0]
    assert attributes(first)[PAYLOAD] == '{"content":"Berlin to Munich on Friday"}'


def test_messages_already_in_the_conventions_shape_are_kept(store: Store) -> None:
    session_id = store.create_session().id
    recorder = store.recorder(session_id, price=False)
    shaped = {"role": "user", "parts": [{"type": "text", "content": "Hi"}]}
    tool_answer = {"role": "tool", "tool_call_id": "call_9", "content": "21 °C"}
    parts = {"role": "user", "content": [{"type": "text", "text": "Paris?"}]}
    with recorder.llm_call("m", {"messages": [shaped, tool_answer, parts]}) as llm:
        tool_calls = [{"id": "call_9", "function": {"name": "weather", "arguments": "{}"}}]
        llm.set_response(content=None, tool_calls=tool_calls, finish_reason="tool_calls")
    chat = attributes(exported(store, session_id, include_content=True)[0])
    assert chat[gen_ai.INPUT_MESSAGES] == (
        '[{"role":"user","parts":[{"type":"text","content":"Hi"}]},'
        '{"role":"tool","parts":[{"type":"tool_call_response","id":"call_9","response":"21 °C"}]},'
        '{"role":"user","parts":[{"type":"text","content":"Paris?"}]}]'
    )
    assert chat[gen_ai.OUTPUT_MESSAGES] == (
        '[{"role":"assistant","parts":[{"type":"tool_call","name":"weather","id":"call_9",'
        '"arguments":"{}"}],"finish_reason":"tool_calls"}]'
    )


# Pairing


def test_answers_without_a_cause_are_paired_by_tool_call_id_then_by_order(store: Store) -> None:
    session_id = store.create_session().id
    tool = Metadata(tool_name="search")
    first, second, request = store.append_batch(
        session_id,
        [
            new_event("tool_called", {"tool": "search", "tool_call_id": "a"}, metadata=tool),
            new_event("tool_called", {"tool": "search", "tool_call_id": "b"}, metadata=tool),
            new_event("llm_request", {"model": "m"}, metadata=Metadata(model="m")),
        ],
    )
    answers = store.append_batch(
        session_id,
        [
            new_event("tool_result", {"tool": "search", "tool_call_id": "b"}, metadata=tool),
            new_event("llm_response", {"content": "ok"}, metadata=Metadata(tokens_in=3)),
            new_event("tool_result", {"tool": "search"}, metadata=tool),
        ],
    )
    spans = exported(store, session_id)
    pairs = {attributes(span).get(EVENT_ID): attributes(span).get(ANSWER_ID) for span in spans}
    assert pairs[second.id] == answers[0].id  # by its tool call id
    assert pairs[request.id] == answers[1].id  # the oldest request unanswered
    assert pairs[first.id] == answers[2].id  # the oldest call of the tool unanswered


def test_an_answer_whose_call_is_missing_starts_its_duration_before(store: Store) -> None:
    session_id = store.create_session().id
    metadata = Metadata(tool_name="search", duration_ms=250, cause_id="elsewhere")
    result = store.append(session_id, new_event("tool_result", {"result": 1}, metadata=metadata))
    span = exported(store, session_id)[0]
    assert span.name == "execute_tool search"
    assert (span.start_time, span.end_time) == (result.timestamp_ns - 250 * MS, result.timestamp_ns)
    assert EVENT_ID not in attributes(span)
    assert attributes(span)[ANSWER_ID] == result.id


# Ids, stored data, streaming


def test_exporting_a_session_again_or_from_a_copy_gives_the_same_trace(
    store: Store, tmp_path: Path
) -> None:
    session_id = record_trip(store)
    once = [span.to_json() for span in exported(store, session_id, include_content=True)]
    again = [span.to_json() for span in exported(store, session_id, include_content=True)]
    assert once == again
    with agentstore.open(tmp_path / "copy.db") as copy:
        agentstore.copy_sessions(store, copy, [session_id])
        copied = exported(copy, session_id, include_content=True)
    assert [span.to_json() for span in copied] == once


def test_stored_values_of_any_shape_become_valid_attribute_values(store: Store) -> None:
    session_id = store.create_session().id
    store.append_batch(
        session_id,
        [
            new_event("tool_called", {"tool": 7, "tool_call_id": ["x"], "arguments": None}),
            new_event("tool_result", [1, 2]),
            new_event("llm_request", {"model": {"name": "m"}, "request": 3.5}),
            new_event("llm_response", "text"),
            new_event("error", {"error": {"code": 5}, "error_type": 9}),
            new_event("error", "plain"),
            new_event("note", None),
        ],
    )
    spans = exported(store, session_id, include_content=True)
    for found in _everything(spans):
        for value in found.values():
            assert type(value) in (str, bool, int, float), found
    assert encode_spans(spans).resource_spans  # the OTLP encoder takes them all
    root = spans[-1]
    assert root.status.description == "plain"
    assert attributes(root)[gen_ai.ERROR_TYPE] == "_OTHER"
    messages = [attributes(event).get(gen_ai.EXCEPTION_MESSAGE) for event in root.events]
    assert '{"code":5}' in messages


class CountingExporter(InMemorySpanExporter):
    """Keeps the spans, and the size of each batch it was given."""

    def __init__(self, *, fail: bool = False) -> None:
        super().__init__()
        self.batches: list[int] = []
        self.fail = fail

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.batches.append(len(spans))
        return SpanExportResult.FAILURE if self.fail else super().export(spans)


def test_a_long_session_is_exported_in_batches_as_its_spans_finish(store: Store) -> None:
    session_id = store.create_session().id
    recorder = store.recorder(session_id, price=False)
    for n in range(1200):
        with recorder.tool_call("step", {"n": n}) as call:
            call.set_result(n)
    exporter = CountingExporter()
    assert export_sessions(store, [session_id], exporter) == 1201
    assert exporter.batches == [512, 512, 177]
    spans = exporter.get_finished_spans()
    assert [span.name for span in spans[:2]] == ["execute_tool step"] * 2
    assert spans[-1].name == "invoke_agent"


def test_an_unknown_session_exports_nothing(store: Store) -> None:
    session_id = record_trip(store)
    exporter = InMemorySpanExporter()
    with pytest.raises(SessionNotFoundError, match="'nope'"):
        export_sessions(store, [session_id, "nope"], exporter)
    assert exporter.get_finished_spans() == ()


def test_an_exporter_that_fails_is_an_error(store: Store) -> None:
    session_id = record_trip(store)
    with pytest.raises(StorageError, match="failed on session"):
        export_sessions(store, [session_id], CountingExporter(fail=True))


def test_the_same_spans_come_from_the_pure_function(store: Store) -> None:
    session_id = record_trip(store)
    pure = session_spans(store.get_session(session_id), store.get_events(session_id))
    assert [span.to_json() for span in pure] == [
        span.to_json() for span in exported(store, session_id)
    ]


# The command


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    spans: list[ProtoSpan]


@dataclass
class Receiver:
    """An OTLP/HTTP traces receiver on 127.0.0.1: each request it was sent, decoded."""

    url: str
    received: list[Received] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            request = ExportTraceServiceRequest()
            request.ParseFromString(self.rfile.read(int(self.headers["Content-Length"])))
            spans = [
                span
                for resource in request.resource_spans
                for scope in resource.scope_spans
                for span in scope.spans
            ]
            headers = {name.lower(): value for name, value in self.headers.items()}
            found.received.append(Received(self.path, headers, spans))
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    found.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def agentstore_command(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The command as test_cli runs it, without the OTLP variables of the environment."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("OTEL_") and key != "AGENTSTORE_URL"
    }
    done = COMMANDS.run(list(args), {**environment, **env}, timeout=60)
    assert "Traceback" not in done.stderr
    return done


def value_of(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    assert kind is not None
    return getattr(value, kind)


def proto_attributes(span: ProtoSpan) -> dict[str, Any]:
    return {item.key: value_of(item.value) for item in span.attributes}


def test_the_command_sends_the_sessions_to_the_endpoint_given(
    receiver: Receiver, tmp_path: Path
) -> None:
    with agentstore.open(tmp_path / "data") as store:
        session_id = record_trip(store)
    done = agentstore_command(
        "--store",
        str(tmp_path / "data"),
        "export",
        "otel",
        session_id[:8],  # the start of its id, as other commands take it
        "--endpoint",
        f"{receiver.url}/v1/traces",
        "--headers",
        "authorization=Bearer s3cret",
        "--include-content",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Sent 5 spans of 1 session to {receiver.url}/v1/traces.\n"
    (request,) = receiver.received
    assert request.path == "/v1/traces"
    assert request.headers["authorization"] == "Bearer s3cret"
    assert request.headers["content-type"] == "application/x-protobuf"
    names = [span.name for span in request.spans]
    assert names == [
        "chat gpt-4o",
        "execute_tool search_flights",
        "execute_tool book_flight",
        "chat gpt-4o",
        "invoke_agent travel-agent",
    ]
    trace_id = session_trace_id(session_id).to_bytes(16, "big")
    assert {span.trace_id for span in request.spans} == {trace_id}
    root, chat = request.spans[-1], request.spans[0]
    assert chat.parent_span_id == root.span_id
    assert chat.kind == ProtoSpan.SpanKind.SPAN_KIND_CLIENT
    assert proto_attributes(chat)[gen_ai.INPUT_TOKENS] == 1200
    assert gen_ai.INPUT_MESSAGES in proto_attributes(chat)
    assert proto_attributes(root)[gen_ai.CONVERSATION_ID] == session_id


def test_the_command_sends_where_the_otlp_variables_say(receiver: Receiver, tmp_path: Path) -> None:
    with agentstore.open(tmp_path / "data") as store:
        first, second = record_trip(store), store.create_session(name="empty").id
    done = agentstore_command(
        "--store",
        str(tmp_path / "data"),
        "export",
        "otel",
        first,
        second,
        "--format",
        "json",
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url + "/",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        f'{{\n  "sessions": 2,\n  "spans": 6,\n  "endpoint": "{receiver.url}/v1/traces"\n}}\n'
    )
    spans = [span for request in receiver.received for span in request.spans]
    assert [span.name for span in spans][-1] == "invoke_agent empty"
    assert all(gen_ai.INPUT_MESSAGES not in proto_attributes(span) for span in spans)


def test_an_unknown_session_is_the_stores_error_and_nothing_is_sent(
    receiver: Receiver, tmp_path: Path
) -> None:
    with agentstore.open(tmp_path / "data") as store:
        session_id = record_trip(store)
    done = agentstore_command(
        "--store",
        str(tmp_path / "data"),
        "export",
        "otel",
        session_id,
        "no-such-session",
        "--endpoint",
        receiver.url + "/v1/traces",
    )
    assert done.returncode == 1
    assert done.stderr == "Error: session 'no-such-session' not found\n"
    assert receiver.received == []


def test_an_endpoint_that_does_not_answer_fails_the_command(tmp_path: Path) -> None:
    with agentstore.open(tmp_path / "data") as store:
        session_id = record_trip(store)
    with socket.socket() as probe:  # a port nothing listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/v1/traces"
    done = agentstore_command(
        "--store",
        str(tmp_path / "data"),
        "export",
        "otel",
        session_id,
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=url,
        OTEL_EXPORTER_OTLP_TRACES_TIMEOUT="1",
    )
    assert done.returncode == 1
    assert f"Error: could not send to {url}: " in done.stderr


def test_without_the_otel_extra_the_command_says_how_to_install_it(tmp_path: Path) -> None:
    with agentstore.open(tmp_path / "data") as store:
        session_id = record_trip(store)
    hidden = tmp_path / "hidden" / "opentelemetry"  # found first: as if it were not installed
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'opentelemetry'\", name='opentelemetry')\n"
    )
    environment = {key: value for key, value in os.environ.items() if key != "AGENTSTORE_URL"}
    done = subprocess.run(
        [AGENTSTORE, "--store", str(tmp_path / "data"), "export", "otel", session_id],
        env={**environment, "PYTHONPATH": str(hidden.parent)},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr == (
        "Error: No module named 'opentelemetry': agentstore export otel needs the otel extra: "
        "pip install 'agentstore[otel]'\n"
    )


def test_without_the_otel_extra_the_library_says_how_to_install_it() -> None:
    said = _import_without("agentstore.otel", {"opentelemetry"})
    assert said == (
        "No module named 'opentelemetry': agentstore.otel needs the otel extra: "
        "pip install 'agentstore[otel]'"
    )
