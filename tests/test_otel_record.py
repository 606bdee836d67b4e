"""GenAI spans recorded as events: a real instrumented Pydantic AI agent, offline, through
the span processor and through a server's ``POST /v1/traces`` (OTLP protobuf and JSON).

The agent's model is Pydantic AI's ``FunctionModel``: it asks for two tools at once, one
of which fails (the agent gets a retry prompt), then answers; the agent runs twice in one
conversation, which is one session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest
from genai_prices import Usage, calc_price
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode, Tracer
from pydantic_ai import Agent, ModelRetry
from pydantic_ai.capabilities.instrumentation import Instrumentation
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.instrumented import InstrumentationSettings
from pydantic_ai.usage import RequestUsage
from starlette.testclient import TestClient

import agentstore
import agentstore.aio
from agentstore import Event, InvalidArgumentError, InvalidSessionIdError, Store
from agentstore.backends import MemoryBackend
from agentstore.errors import missing_extra
from agentstore.otel import RecordingSpanProcessor, export_sessions
from agentstore.otel import conventions as gen_ai
from agentstore.otel.export import session_spans
from agentstore.otel.processor import write
from agentstore.otel.record import SpanRecord, TraceSessions, span_events, span_record
from agentstore.server import create_app, otlp
from tests.test_remote import Server

TOKEN = "otlp-write-token-0123456789"  # noqa: S105 - the tests' own
READ_TOKEN = "otlp-read-token-0123456789"  # noqa: S105


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# The agent: two tools asked for at once, one failing, then an answer.


def _model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    time.sleep(0.01)  # the model's own time: its span's duration
    last = messages[-1]
    if isinstance(last, ModelRequest) and any(
        isinstance(part, ToolReturnPart | RetryPromptPart) for part in last.parts
    ):
        answer = TextPart("Sunny in Berlin; the road is closed.")
        return ModelResponse(parts=[answer], usage=RequestUsage(input_tokens=40, output_tokens=9))
    calls = [
        ToolCallPart("forecast", {"city": "Berlin"}, tool_call_id="call-forecast"),
        ToolCallPart("road_status", {"road": "A100"}, tool_call_id="call-road"),
    ]
    usage = RequestUsage(input_tokens=25, output_tokens=12, cache_read_tokens=5)
    return ModelResponse(parts=calls, usage=usage)


def _agent(provider: TracerProvider) -> Agent[None, str]:
    settings = InstrumentationSettings(tracer_provider=provider)
    agent = Agent(
        FunctionModel(_model, model_name="gpt-4o"),
        name="travel-agent",
        capabilities=[Instrumentation(settings=settings)],
    )

    @agent.tool_plain
    def forecast(city: str) -> str:
        time.sleep(0.02)
        return f"sunny in {city}"

    @agent.tool_plain
    def road_status(road: str) -> str:
        raise ModelRetry(f"{road} is closed")

    return agent


def _two_runs(provider: TracerProvider, conversation_id: str) -> None:
    agent = _agent(provider)

    async def runs() -> None:
        await agent.run("Weather in Berlin?", conversation_id=conversation_id)
        await agent.run("And tomorrow?", conversation_id=conversation_id)

    asyncio.run(runs())


def _check_trip(store: Store, session_id: str) -> None:
    """The events of the two runs: calls, tokens, tool calls by id, the error, durations."""
    (session,) = [s for s in store.list_sessions(limit=None) if s.id == session_id]
    assert session.name == "travel-agent"
    events = store.get_events(session_id)
    assert len(events) == 16
    for run in (events[:8], events[8:]):
        assert [event.type for event in run[:2]] == ["llm_request", "llm_response"]
        assert sorted(event.type for event in run[2:6]) == [
            "error",
            "tool_called",
            "tool_called",
            "tool_result",
        ]
        assert [event.type for event in run[6:]] == ["llm_request", "llm_response"]
        _check_model_call(run[0], run[1])
        _check_tools(run[2:6])
        assert run[7].payload["content"] == "Sunny in Berlin; the road is closed."
        assert run[7].metadata.tokens_in == 40
        assert run[7].metadata.cause_id == run[6].id
    state = store.get_state(session_id)
    assert (state.tokens.input, state.tokens.output) == (2 * (25 + 40), 2 * (12 + 9))
    assert (state.tool_calls, state.errors) == (4, 2)


def _check_model_call(request: Event, response: Event) -> None:
    assert request.payload["model"] == "gpt-4o"
    asked = request.payload["request"]["messages"]
    assert asked[0]["parts"][0]["type"] == "text"  # the conventions' messages, as sent
    assert (request.metadata.model, request.metadata.provider) == ("gpt-4o", "function")
    metadata = response.metadata
    assert metadata.cause_id == request.id
    assert (metadata.model, metadata.provider) == ("gpt-4o", "function")
    assert (metadata.tokens_in, metadata.tokens_out, metadata.cache_read_tokens) == (25, 12, 5)
    assert metadata.duration_ms >= 10
    usage = Usage(input_tokens=25, output_tokens=12, cache_read_tokens=5)
    assert metadata.cost_usd == pytest.approx(float(calc_price(usage, "gpt-4o").total_price))
    assert metadata.cost_source.startswith("genai-prices")
    assert response.payload["content"] is None
    asked_for = [(call["id"], call["name"]) for call in response.payload["tool_calls"]]
    assert asked_for == [("call-forecast", "forecast"), ("call-road", "road_status")]


def _check_tools(events: Sequence[Event]) -> None:
    # The two tools ran at once: their events are matched by tool call id, not by place.
    called = {
        event.payload["tool_call_id"]: event for event in events if event.type == "tool_called"
    }
    forecast, road = called["call-forecast"], called["call-road"]
    assert forecast.payload == {
        "tool": "forecast",
        "arguments": {"city": "Berlin"},
        "tool_call_id": "call-forecast",
    }
    assert (forecast.metadata.tool_name, road.payload["arguments"]) == (
        "forecast",
        {"road": "A100"},
    )
    (result,) = [event for event in events if event.type == "tool_result"]
    assert result.payload == {"tool": "forecast", "result": "sunny in Berlin"}
    assert result.metadata.cause_id == forecast.id
    assert result.metadata.duration_ms >= 20
    assert result.seq > forecast.seq
    (error,) = [event for event in events if event.type == "error"]
    assert error.payload == {
        "error": "A100 is closed",
        "tool": "road_status",
        "error_type": "ToolRetryError",
    }
    assert (error.metadata.cause_id, error.metadata.tool_name) == (road.id, "road_status")
    assert error.seq > road.seq


# The span processor


def test_a_pydantic_ai_agent_is_recorded_in_one_session_per_conversation(tmp_path: Path) -> None:
    with agentstore.open(tmp_path / "data") as store:
        processor = RecordingSpanProcessor(store)
        provider = TracerProvider()
        provider.add_span_processor(processor)
        _two_runs(provider, "trip-2026")
        assert provider.force_flush()
        assert [session.id for session in store.list_sessions()] == ["trip-2026"]
        _check_trip(store, "trip-2026")
        assert processor.dropped == 0
        provider.shutdown()


def _span(tracer: Tracer, name: str, **attributes: Any) -> None:
    with tracer.start_as_current_span(name, attributes=attributes):
        pass


def _tool_span(tracer: Tracer, tool: str) -> None:
    attributes = {gen_ai.OPERATION_NAME: gen_ai.EXECUTE_TOOL, gen_ai.TOOL_NAME: tool}
    with tracer.start_as_current_span(f"execute_tool {tool}", attributes=attributes):
        pass


@pytest.fixture
def traced() -> Iterator[tuple[Store, RecordingSpanProcessor, Tracer]]:
    with agentstore.open(":memory:") as store:
        processor = RecordingSpanProcessor(store)
        provider = TracerProvider()
        provider.add_span_processor(processor)
        yield store, processor, provider.get_tracer("tests")
        provider.shutdown()


def test_spans_that_are_not_genai_are_ignored(
    traced: tuple[Store, RecordingSpanProcessor, Tracer],
) -> None:
    store, processor, tracer = traced
    _span(tracer, "GET /health", **{"http.request.method": "GET", "url.path": "/health"})
    chat = {gen_ai.OPERATION_NAME: gen_ai.CHAT, gen_ai.REQUEST_MODEL: "local-model"}
    with tracer.start_as_current_span("chat local-model", attributes=chat) as span:
        trace_id = span.get_span_context().trace_id
    assert processor.force_flush()
    (session,) = store.list_sessions()
    assert session.id == f"{trace_id:032x}"  # no conversation: the trace's own session
    request, response = store.get_events(session.id)
    assert (request.type, response.type) == ("llm_request", "llm_response")
    assert response.metadata.cost_source == "unknown"  # no usage said: unknown, not free
    assert processor.dropped == 0


def test_a_span_without_the_conversation_goes_to_its_traces_session(
    traced: tuple[Store, RecordingSpanProcessor, Tracer],
) -> None:
    store, processor, tracer = traced
    for conversation in ("conv-7", "user 42/chat"):
        root = {
            gen_ai.OPERATION_NAME: gen_ai.INVOKE_AGENT,
            gen_ai.AGENT_NAME: "planner",
            gen_ai.CONVERSATION_ID: conversation,
        }
        with tracer.start_as_current_span("invoke_agent planner", attributes=root):
            _tool_span(tracer, "search")  # ends first, and names no conversation
    assert processor.force_flush()
    named = sorted((session.id, session.name) for session in store.list_sessions())
    assert named[0] == ("conv-7", "planner")
    assert named[1][0].startswith("user-42-chat-")  # made a valid session id, uniquely
    for session_id, _ in named:
        assert [event.type for event in store.get_events(session_id)] == [
            "tool_called",
            "tool_result",
        ]


def test_failures_are_errors_and_a_span_the_store_refuses_is_counted() -> None:
    with agentstore.open(":memory:", max_payload_bytes=300) as store:
        processor = RecordingSpanProcessor(store, session_id="failures")
        provider = TracerProvider()
        provider.add_span_processor(processor)
        tracer = provider.get_tracer("tests")
        root = {gen_ai.OPERATION_NAME: gen_ai.INVOKE_AGENT, gen_ai.AGENT_NAME: "planner"}
        chat = {gen_ai.OPERATION_NAME: gen_ai.CHAT, gen_ai.REQUEST_MODEL: "gpt-4o"}
        big = {
            gen_ai.OPERATION_NAME: gen_ai.EXECUTE_TOOL,
            gen_ai.TOOL_NAME: "upload",
            gen_ai.TOOL_CALL_ARGUMENTS: orjson.dumps({"data": "x" * 1000}).decode(),
        }
        with tracer.start_as_current_span("invoke_agent planner", attributes=root) as run:
            with (
                contextlib.suppress(TimeoutError),
                tracer.start_as_current_span("chat gpt-4o", attributes=chat),
            ):
                raise TimeoutError("the model did not answer")
            _span(tracer, "execute_tool upload", **big)  # more than the store takes
            run.record_exception(RuntimeError("gave up"))
            run.set_status(StatusCode.ERROR, "gave up")
        assert processor.force_flush()
        request, failed, gave_up = store.get_events("failures")
        assert failed.payload == {"error": "the model did not answer", "error_type": "TimeoutError"}
        assert (failed.metadata.cause_id, request.type) == (request.id, "llm_request")
        assert gave_up.payload == {"error": "gave up", "error_type": "RuntimeError"}
        assert gave_up.metadata.cause_id == ""  # the run's own failure
        assert processor.dropped == 1  # the upload, refused alone
        provider.shutdown()


def test_cache_tokens_counted_apart_from_the_input_are_added_to_it() -> None:
    usage = {
        gen_ai.OPERATION_NAME: gen_ai.CHAT,
        gen_ai.REQUEST_MODEL: "claude-sonnet-4-5",
        gen_ai.INPUT_TOKENS: 10,  # as Anthropic's API counts them: the uncached ones only
        gen_ai.CACHE_READ_TOKENS: 30,
        gen_ai.CACHE_WRITE_TOKENS: 5,
        gen_ai.OUTPUT_TOKENS: 7,
    }
    span = SpanRecord(1, 2, "chat claude-sonnet-4-5", 0, 2_000_000, usage)
    (start, request), (end, response) = span_events(span)
    metadata = response.metadata
    assert (metadata.tokens_in, metadata.cache_read_tokens, metadata.cache_write_tokens) == (
        45,
        30,
        5,
    )
    assert (metadata.tokens_out, metadata.duration_ms, metadata.cause_id) == (7, 2, request.id)
    assert (start, end) == (0, 2_000_000)


class _GatedBackend(MemoryBackend):
    """A memory backend whose appends wait until the test opens the gate: a slow store."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.gate = threading.Event()

    def append(
        self, session_id: str, events: Sequence[Event], *, expected_seq: int | None
    ) -> list[Event]:
        self.entered.set()
        self.gate.wait(30)
        return super().append(session_id, events, expected_seq=expected_seq)


def test_a_full_queue_drops_spans_counts_them_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = _GatedBackend()
    with Store(backend) as store:
        processor = RecordingSpanProcessor(
            store,
            session_id="slow",
            max_queue_size=4,
            max_export_batch_size=2,
            schedule_delay_millis=10,
        )
        provider = TracerProvider()
        provider.add_span_processor(processor)
        tracer = provider.get_tracer("tests")
        _tool_span(tracer, "first")
        assert processor.force_flush(0) is False  # not written yet: the store waits
        assert backend.entered.wait(10)  # the worker is stuck writing the first span
        with caplog.at_level(logging.WARNING, logger="agentstore.otel.processor"):
            for number in range(10):
                _tool_span(tracer, f"tool-{number}")  # returns at once, written or not
        assert processor.dropped == 6  # 4 queued behind the first
        full = [record for record in caplog.records if "full" in record.getMessage()]
        assert len(full) == 1
        backend.gate.set()
        assert processor.force_flush()
        tools = [event.payload["tool"] for event in store.get_events("slow")[::2]]
        assert tools == ["first", "tool-0", "tool-1", "tool-2", "tool-3"]
        provider.shutdown()
        _tool_span(tracer, "late")  # after shutdown: dropped, and counted
        assert processor.dropped == 7


def test_an_async_store_is_written_on_its_own_event_loop(tmp_path: Path) -> None:
    async def scenario() -> list[Event]:
        async with await agentstore.aio.open(tmp_path / "data") as store:
            processor = RecordingSpanProcessor(store, session_id="async-run")
            provider = TracerProvider()
            provider.add_span_processor(processor)
            tracer = provider.get_tracer("tests")
            _tool_span(tracer, "search")  # ended on the store's loop
            assert processor.force_flush() is False  # would block the loop that writes
            assert await asyncio.to_thread(processor.force_flush)
            _tool_span(tracer, "book")
            provider.shutdown()  # does not wait on the loop: the loop writes it afterwards
            for _ in range(1000):
                events = await store.get_events("async-run")
                if len(events) == 4:
                    return events
                await asyncio.sleep(0.01)
            return events

    events = asyncio.run(scenario())
    assert [event.payload["tool"] for event in events] == ["search"] * 2 + ["book"] * 2


def test_bad_settings_are_refused_before_anything_starts() -> None:
    with agentstore.open(":memory:") as store:
        with pytest.raises(InvalidArgumentError, match="max_queue_size"):
            RecordingSpanProcessor(store, max_queue_size=10, max_export_batch_size=20)
        with pytest.raises(InvalidArgumentError, match="schedule_delay_millis"):
            RecordingSpanProcessor(store, schedule_delay_millis=0)
        with pytest.raises(InvalidSessionIdError):
            RecordingSpanProcessor(store, session_id="../elsewhere")


def test_an_async_store_in_memory_is_written_by_the_worker_thread() -> None:
    store = asyncio.run(agentstore.aio.open(":memory:"))  # of no event loop
    processor = RecordingSpanProcessor(store, session_id="in-memory")
    provider = TracerProvider()
    provider.add_span_processor(processor)
    _tool_span(provider.get_tracer("tests"), "search")
    assert processor.force_flush()
    provider.shutdown()
    events = asyncio.run(store.get_events("in-memory"))
    assert [event.type for event in events] == ["tool_called", "tool_result"]
    asyncio.run(store.aclose())


def test_a_session_exported_and_recorded_back_keeps_its_events() -> None:
    with agentstore.open(":memory:") as source, agentstore.open(":memory:") as copy:
        source.create_session(id="trip-1", name="planner")
        recorder = source.recorder("trip-1")
        recorder.user_message("Weather in Berlin?")
        request = recorder.llm_request("gpt-4o", {"messages": [{"role": "user", "content": "x"}]})
        recorder.llm_response(request, None, content="Let me look.", tokens_in=10, tokens_out=2)
        call = recorder.tool_called("forecast", {"city": "Berlin"}, tool_call_id="t1")
        recorder.tool_result(call, {"sky": "sunny"})
        failing = recorder.tool_called("road_status", {"road": "A100"})
        recorder.error(ValueError("closed"), cause=failing, tool_name="road_status")
        recorder.error("the run failed")
        original = source.get_events("trip-1")
        spans = session_spans(source.get_session("trip-1"), original, include_content=True)
        batches, rejected = TraceSessions().plan(span_record(span) for span in spans)
        assert rejected == 0
        assert [(batch.session_id, batch.name) for batch in batches] == [("trip-1", "planner")]
        assert write(copy, batches[0]) == 0
        recorded = copy.get_events("trip-1")
        assert [event.id for event in recorded] == [event.id for event in original]
        for before, after in zip(original, recorded, strict=True):
            assert after.type == before.type
            assert after.metadata.cause_id == before.metadata.cause_id
            assert after.metadata.tokens_in == before.metadata.tokens_in
            assert after.metadata.cost_usd == before.metadata.cost_usd
            if before.type != "llm_request":  # its messages take the conventions' shape
                assert after.payload == before.payload


# The server's POST /v1/traces


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    target = str(tmp_path_factory.mktemp("otlp") / "data")
    running = Server(target).start(
        env={"AGENTSTORE_TOKEN": TOKEN, "AGENTSTORE_READ_TOKEN": READ_TOKEN}
    )
    yield running
    running.stop()


def test_an_agent_exporting_otlp_protobuf_to_the_server_is_recorded(server: Server) -> None:
    endpoint = server.url + "/v1/traces"
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint, headers=_as(TOKEN))))
    _two_runs(provider, "otlp-trip")
    assert provider.force_flush()
    provider.shutdown()
    with agentstore.open(server.url, token=TOKEN) as store:
        _check_trip(store, "otlp-trip")
        # Sent again (an exporter's retry), gzip-compressed this time: nothing stored twice.
        again = OTLPSpanExporter(endpoint, headers=_as(TOKEN), compression=Compression.Gzip)
        assert again.export(memory.get_finished_spans()) is SpanExportResult.SUCCESS
        assert store.get_session("otlp-trip").event_count == 16


def test_a_session_exported_over_otlp_to_the_server_is_recorded_back_as_it_was(
    server: Server, tmp_path: Path
) -> None:
    """The round trip through the wire: the real OTLP exporter sends a recorded session to
    a served store's /v1/traces, which decodes the ExportTraceServiceRequest."""
    with agentstore.open(str(tmp_path / "source")) as source:
        source.create_session(id="round-trip", name="planner")
        agent = source.recorder("round-trip")
        agent.user_message("Weather in Berlin?")
        with agent.llm_call("gpt-4o", provider="openai") as llm:
            llm.set_response("Let me look.", tokens_in=410, tokens_out=12, cost_usd=0.0011)
        with agent.tool_call("forecast", {"city": "Berlin"}) as call:
            call.set_result({"sky": "sunny"})
        failing = agent.tool_called("road_status", {"road": "A100"})
        agent.error(ValueError("closed"), cause=failing, tool_name="road_status")
        original = source.get_events("round-trip")
        exporter = OTLPSpanExporter(server.url + "/v1/traces", headers=_as(TOKEN))
        assert export_sessions(source, ["round-trip"], exporter, include_content=True) == 4
        exporter.shutdown()  # type: ignore[no-untyped-call]
    with agentstore.open(server.url, token=TOKEN) as store:
        recorded = store.get_events("round-trip")
        assert store.get_session("round-trip").name == "planner"
        state = store.get_state("round-trip")
    assert [event.id for event in recorded] == [event.id for event in original]
    for before, after in zip(original, recorded, strict=True):
        assert (after.type, after.metadata.cause_id) == (before.type, before.metadata.cause_id)
        assert after.metadata.tokens_in == before.metadata.tokens_in
        assert after.metadata.tokens_out == before.metadata.tokens_out
        assert after.metadata.cost_usd == before.metadata.cost_usd
        assert after.metadata.duration_ms == before.metadata.duration_ms
        if before.type != "llm_request":  # its messages take the conventions' shape
            assert after.payload == before.payload
    assert (state.tool_calls, state.errors, state.tokens.input) == (2, 1, 410)


def _value(value: object) -> dict[str, object]:
    if isinstance(value, str):
        return {"stringValue": value}
    return {"intValue": str(value)}  # int64 as OTLP's JSON writes it


def _json_span(trace_id: str, span_id: str, name: str, **attributes: object) -> dict[str, Any]:
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "kind": 3,
        "startTimeUnixNano": "1760000000000000000",
        "endTimeUnixNano": "1760000000250000000",
        "attributes": [{"key": key, "value": _value(value)} for key, value in attributes.items()],
        "status": {},
    }


def test_otlp_json_is_recorded_and_bad_spans_are_counted_as_rejected(server: Server) -> None:
    trace = "5b8efff798038103d269b633813fc60c"
    chat = {
        gen_ai.OPERATION_NAME: gen_ai.CHAT,
        gen_ai.CONVERSATION_ID: "json-chat",
        gen_ai.PROVIDER_NAME: "anthropic",
        gen_ai.REQUEST_MODEL: "claude-sonnet-4-5",
        gen_ai.INPUT_TOKENS: 120,
        gen_ai.OUTPUT_TOKENS: 30,
        gen_ai.CACHE_READ_TOKENS: 100,
    }
    spans = [
        _json_span(trace, "eee19b7ec3c1b174", "chat claude-sonnet-4-5", **chat),
        _json_span("not-hex", "eee19b7ec3c1b175", "chat", **chat),  # rejected
        _json_span(trace, "eee19b7ec3c1b176", "GET /", **{"http.request.method": "GET"}),
    ]
    body = {"resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {}, "spans": spans}]}]}
    headers = {**_as(TOKEN), "Content-Type": "application/json"}
    response = httpx2.post(server.url + "/v1/traces", content=orjson.dumps(body), headers=headers)
    assert response.status_code == 200
    assert response.json()["partialSuccess"]["rejectedSpans"] == "1"
    with agentstore.open(server.url, token=TOKEN) as store:
        request, answer = store.get_events("json-chat")
        assert (request.metadata.model, request.metadata.provider) == (
            "claude-sonnet-4-5",
            "anthropic",
        )
        metadata = answer.metadata
        assert (metadata.tokens_in, metadata.tokens_out, metadata.cache_read_tokens) == (
            120,
            30,
            100,
        )
        assert (metadata.duration_ms, metadata.cause_id) == (250, request.id)
    good = {"resourceSpans": [{"scopeSpans": [{"spans": spans[:1]}]}]}
    response = httpx2.post(server.url + "/v1/traces", content=orjson.dumps(good), headers=headers)
    assert (response.status_code, response.json()) == (200, {})  # all recorded (already)


def test_otlp_needs_protobuf_or_json_and_a_token_that_may_write(server: Server) -> None:
    url = server.url + "/v1/traces"
    text = httpx2.post(url, content=b"spans", headers={**_as(TOKEN), "Content-Type": "text/plain"})
    assert text.status_code == 415
    assert "application/x-protobuf" in text.json()["error"]["message"]
    protobuf = {"Content-Type": "application/x-protobuf"}
    read = httpx2.post(url, content=b"", headers={**_as(READ_TOKEN), **protobuf})
    assert read.status_code == 403
    assert read.json()["error"]["type"] == "ReadOnlyStoreError"
    garbage = httpx2.post(url, content=b"\xff\xff", headers={**_as(TOKEN), **protobuf})
    assert garbage.status_code == 400


def test_without_the_otel_extra_the_route_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = ModuleNotFoundError("No module named 'opentelemetry'", name="opentelemetry")
    monkeypatch.setattr(otlp, "_MISSING", missing_extra(missing, "otel", "POST /v1/traces"))
    with TestClient(create_app(tmp_path / "data"), base_url="http://127.0.0.1:8750") as client:
        response = client.post(
            "/v1/traces", content=b"", headers={"Content-Type": "application/x-protobuf"}
        )
    assert response.status_code == 501
    assert "pip install 'agentstore[otel]'" in response.json()["error"]["message"]


def test_a_readable_span_of_the_sdk_is_read_whole() -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span("chat m", attributes={gen_ai.OPERATION_NAME: "chat"}) as span:
        span.add_event(gen_ai.EXCEPTION, {gen_ai.EXCEPTION_MESSAGE: "timed out"})
    (finished,) = memory.get_finished_spans()
    assert isinstance(finished, ReadableSpan)
    record = span_record(finished)
    context = finished.get_span_context()
    assert context is not None
    assert (record.trace_id, record.span_id) == (context.trace_id, context.span_id)
    assert (record.start_ns, record.end_ns) == (finished.start_time, finished.end_time)
    assert record.events[0].name == gen_ai.EXCEPTION
    assert record.attributes[gen_ai.OPERATION_NAME] == "chat"
    assert not record.error
