"""OpenTelemetry: how fast sessions are exported as GenAI traces, in spans per second.

Usage: ``python benchmarks/bench_otel.py [--quick] [--events N] [--rounds R]``.

Method: one session of ``--events`` events (10,000 by default) in an in-memory store, in
the shapes the recorder writes, in turns of ten: a user message, an LLM call (request
and response, with tokens and cost), three tool calls (call and result, with a tool
call id) and a state update; so 4 spans a turn, and one root span holding the turns'
other events. Export parts:

- ``session_spans``: the spans built from the events already read (the pure part),
  without and with content (messages, arguments and results as JSON);
- ``export_sessions`` into the SDK's ``InMemorySpanExporter``: the session read a page at
  a time and its spans handed over in batches;
- ``export_sessions`` through the OTLP/HTTP exporter (protobuf) to a receiver on
  127.0.0.1 in another process, which reads and decodes each request and answers 200.

Each figure is taken over ``--rounds`` rounds, after one that is not counted, the parts
taken in turn so a noisy neighbour slows them alike: the median rate, and the 10th and
90th percentiles of the rounds' rates (p10 is the slow side). The last column is each
part's median against the in-memory export's, measured in the same run. One thread; the
machine's other work shares its cores, so compare figures of one run. See
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import agentstore
from agentstore import Event, Metadata, Store, new_event
from agentstore.otel import export_sessions, session_spans

TURN = 10  # events a turn
IN_MEMORY = "export_sessions -> in memory"  # the part the others are compared with


@dataclass(frozen=True)
class Row:
    """One line of the table: a part's rates (spans/s) over the rounds."""

    name: str
    spans: int
    rates: list[float]


def turn(k: int) -> list[Event]:
    """The events of one turn of an agent, with the ids that pair answers with calls."""
    request = new_event(
        "llm_request",
        {"model": "gpt-4o", "request": {"messages": [{"role": "user", "content": f"Step {k}"}]}},
        metadata=Metadata(model="gpt-4o", provider="openai"),
    )
    usage = Metadata(
        model="gpt-4o-2024-08-06",
        provider="openai",
        tokens_in=850,
        tokens_out=120,
        cost_usd=0.0042,
        duration_ms=900,
        cause_id=request.id,
    )
    events = [
        new_event("user_message", {"content": f"Turn {k}: Berlin to Munich on Friday"}),
        request,
        new_event("llm_response", {"content": "Two flights: LH1234, EW8001."}, metadata=usage),
    ]
    for n in range(3):
        call = new_event(
            "tool_called",
            {
                "tool": "search_flights",
                "arguments": {"route": "BER-MUC", "k": k},
                "tool_call_id": f"call_{k}_{n}",
            },
            metadata=Metadata(tool_name="search_flights"),
        )
        result = Metadata(tool_name="search_flights", duration_ms=230, cause_id=call.id)
        events += [
            call,
            new_event(
                "tool_result", {"tool": "search_flights", "result": ["LH1234"]}, metadata=result
            ),
        ]
    events.append(new_event("state_updated", {"turn": k, "booked": False}))
    return events


def recorded_session(events: int) -> tuple[Store, str]:
    store = agentstore.open(":memory:", snapshot_interval=0)
    session_id = store.create_session(name="bench-agent").id
    for start in range(0, events // TURN, 100):
        batch = [event for k in range(start, min(start + 100, events // TURN)) for event in turn(k)]
        store.append_batch(session_id, batch)
    return store, session_id


class _Receiver(BaseHTTPRequestHandler):
    """An OTLP/HTTP traces receiver: each request read, decoded and answered 200."""

    def do_POST(self) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(self.rfile.read(int(self.headers["Content-Length"])))
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


def receive() -> None:
    """Serve as the receiver until killed; print the port first."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    print(server.server_port, flush=True)
    server.serve_forever()


def timed_rates(runs: dict[str, Callable[[], int]], rounds: int) -> dict[str, list[float]]:
    """Each run's rate (spans/s) in each round, the runs taken in turn; one round uncounted."""
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for round_number in range(rounds + 1):
        for name, run in runs.items():
            started = time.perf_counter()
            spans = run()
            elapsed = time.perf_counter() - started
            if round_number:
                rates[name].append(spans / elapsed)
    return rates


def export_rows(options: argparse.Namespace) -> Iterator[Row]:
    """The export part: spans built, then exported in memory and over OTLP/HTTP."""
    store, session_id = recorded_session(options.events)
    session, events = store.get_session(session_id), store.get_events(session_id)
    memory = InMemorySpanExporter()
    receiver = subprocess.Popen(
        [sys.executable, __file__, "--receive"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert receiver.stdout is not None
        port = int(receiver.stdout.readline())
        otlp: SpanExporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces")

        def into_memory() -> int:
            memory.clear()
            return export_sessions(store, [session_id], memory)

        runs: dict[str, Callable[[], int]] = {
            "session_spans (pure)": lambda: len(session_spans(session, events)),
            "session_spans (pure), with content": lambda: len(
                session_spans(session, events, include_content=True)
            ),
            IN_MEMORY: into_memory,
            "export_sessions -> OTLP/HTTP, local": lambda: export_sessions(
                store, [session_id], otlp
            ),
        }
        spans = len(session_spans(session, events))
        for name, rates in timed_rates(runs, options.rounds).items():
            yield Row(name, spans, rates)
        otlp.shutdown()
    finally:
        receiver.kill()
        receiver.wait()
        store.close()


def record_rows(options: argparse.Namespace) -> Iterator[Row]:
    """The record part: GenAI spans recorded as events, and what recording costs an agent.

    The spans are an agent's: each of ``--events`` / 10 runs is a trace of an
    ``invoke_agent`` root, a ``chat`` span (usage and messages as JSON) and three
    ``execute_tool`` spans (arguments and results), all naming one conversation. Parts:

    - the mapping alone (``TraceSessions.plan``: each span read, its events drafted and
      priced, nothing stored);
    - ``RecordingSpanProcessor`` into the in-memory store and into a JSONL directory
      (fsync'd), a new store each round: the spans handed to ``on_end``, then
      ``force_flush`` until all are stored (batches of 512, one append each);
    - ``on_end`` alone, what an agent's thread pays: the spans queued, none written
      while timed;
    - a Pydantic AI agent (``FunctionModel``, two tools; six spans a run) instrumented with
      the SDK, ``--events`` / 100 runs a round, without and with a ``RecordingSpanProcessor``
      into a JSONL store, taken in turn; the processor's writes left after a round are
      flushed outside its time. The rate is the spans the runs made per second; the
      second row's name says how much longer the runs took (ratio of the medians).
    """
    import asyncio
    import tempfile

    import orjson
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode
    from pydantic_ai import Agent
    from pydantic_ai.capabilities.instrumentation import Instrumentation
    from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
    from pydantic_ai.models.function import AgentInfo, FunctionModel
    from pydantic_ai.models.instrumented import InstrumentationSettings
    from pydantic_ai.usage import RequestUsage

    from agentstore.otel import RecordingSpanProcessor
    from agentstore.otel import conventions as gen_ai
    from agentstore.otel.record import TraceSessions, span_record

    unset = Status(StatusCode.UNSET)

    def run_spans(run: int) -> list[ReadableSpan]:
        root = SpanContext(run + 1, 1, is_remote=False)
        start = 1_760_000_000_000_000_000 + run * 10_000_000
        common: dict[str, str | int] = {
            gen_ai.CONVERSATION_ID: "bench-conversation",
            gen_ai.AGENT_NAME: "bench",
        }
        messages = [{"role": "user", "parts": [{"type": "text", "content": f"Run {run}"}]}]
        answer = [{"role": "assistant", "parts": [{"type": "text", "content": "LH1234"}]}]
        chat: dict[str, str | int] = {
            **common,
            gen_ai.OPERATION_NAME: gen_ai.CHAT,
            gen_ai.PROVIDER_NAME: "openai",
            gen_ai.REQUEST_MODEL: "gpt-4o",
            gen_ai.INPUT_TOKENS: 850,
            gen_ai.OUTPUT_TOKENS: 120,
            gen_ai.INPUT_MESSAGES: orjson.dumps(messages).decode(),
            gen_ai.OUTPUT_MESSAGES: orjson.dumps(answer).decode(),
        }
        spans: list[tuple[str, SpanKind, dict[str, str | int]]] = [
            ("chat gpt-4o", SpanKind.CLIENT, chat)
        ]
        for n in range(3):
            tool: dict[str, str | int] = {
                **common,
                gen_ai.OPERATION_NAME: gen_ai.EXECUTE_TOOL,
                gen_ai.TOOL_NAME: "search_flights",
                gen_ai.TOOL_CALL_ID: f"call_{run}_{n}",
                gen_ai.TOOL_CALL_ARGUMENTS: '{"route": "BER-MUC"}',
                gen_ai.TOOL_CALL_RESULT: '["LH1234"]',
            }
            spans.append(("execute_tool search_flights", SpanKind.INTERNAL, tool))
        made = [
            ReadableSpan(
                name,
                context=SpanContext(run + 1, number + 2, is_remote=False),
                parent=root,
                attributes=attributes,
                kind=kind,
                status=unset,
                start_time=start + number * 2_000_000,
                end_time=start + number * 2_000_000 + 1_500_000,
            )
            for number, (name, kind, attributes) in enumerate(spans)
        ]
        agent_span = {**common, gen_ai.OPERATION_NAME: gen_ai.INVOKE_AGENT}
        made.append(
            ReadableSpan(
                "invoke_agent bench",
                context=root,
                attributes=agent_span,
                status=unset,
                start_time=start,
                end_time=start + 9_000_000,
            )
        )
        return made

    spans = [span for run in range(options.events // TURN) for span in run_spans(run)]
    directory = tempfile.TemporaryDirectory()
    rounds = iter(range(1_000_000))

    def processed(target: str) -> int:
        with agentstore.open(target) as store:
            processor = RecordingSpanProcessor(store, max_queue_size=max(len(spans), 512))
            for span in spans:
                processor.on_end(span)
            assert processor.force_flush(600_000)
            assert processor.dropped == 0
            processor.shutdown()
        return len(spans)

    runs: dict[str, Callable[[], int]] = {
        "record: mapping only": lambda: sum(
            len(batch.spans) for batch in TraceSessions().plan(map(span_record, spans))[0]
        ),
        "record: processor -> memory": lambda: processed(":memory:"),
        "record: processor -> JSONL": lambda: processed(f"{directory.name}/{next(rounds)}"),
    }
    try:
        for name, rates in timed_rates(runs, options.rounds).items():
            yield Row(name, len(spans), rates)
    finally:
        directory.cleanup()
    handed: list[float] = []
    with agentstore.open(":memory:") as store:
        for round_number in range(options.rounds + 1):
            whole = len(spans) + 1  # all queued, none written while timed
            processor = RecordingSpanProcessor(
                store, max_queue_size=whole, max_export_batch_size=whole, schedule_delay_millis=1e9
            )
            started = time.perf_counter()
            for span in spans:
                processor.on_end(span)
            elapsed = time.perf_counter() - started
            processor.shutdown()  # writes them, outside the time
            if round_number:
                handed.append(len(spans) / elapsed)
    yield Row("record: on_end alone (agent's share)", len(spans), handed)

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) > 1:
            return ModelResponse(
                parts=[TextPart("LH1234")], usage=RequestUsage(input_tokens=40, output_tokens=9)
            )
        calls = [ToolCallPart("search", {"route": "BER-MUC"}), ToolCallPart("price", {"flight": 1})]
        return ModelResponse(parts=calls, usage=RequestUsage(input_tokens=25, output_tokens=12))

    def agent_of(provider: TracerProvider) -> Agent[None, str]:
        settings = InstrumentationSettings(tracer_provider=provider)
        made = Agent(
            FunctionModel(model, model_name="gpt-4o"),
            name="bench",
            capabilities=[Instrumentation(settings=settings)],
        )

        @made.tool_plain
        def search(route: str) -> list[str]:
            return ["LH1234"]

        @made.tool_plain
        def price(flight: int) -> float:
            return 99.0

        return made

    async def runs_of(agent: Agent[None, str], count: int) -> None:
        for run in range(count):
            await agent.run(f"Flights, run {run}")

    with tempfile.TemporaryDirectory() as data, agentstore.open(data) as store:
        processor = RecordingSpanProcessor(store)
        recording = TracerProvider()
        recording.add_span_processor(processor)
        agents = {"plain": agent_of(TracerProvider()), "recorded": agent_of(recording)}
        count = max(options.events // 100, 10)
        spans_made = count * 6
        timings: dict[str, list[float]] = {name: [] for name in agents}
        for round_number in range(options.rounds + 1):
            for name, agent in agents.items():
                started = time.perf_counter()
                asyncio.run(runs_of(agent, count))
                elapsed = time.perf_counter() - started
                if round_number:
                    timings[name].append(elapsed)
            processor.force_flush()
        recording.shutdown()
        slower = statistics.median(timings["recorded"]) / statistics.median(timings["plain"]) - 1
        yield Row(
            "agent runs, instrumented", spans_made, [spans_made / t for t in timings["plain"]]
        )
        yield Row(
            f"agent runs, + processor ({slower:+.1%})",
            spans_made,
            [spans_made / t for t in timings["recorded"]],
        )


# The parts of the table, in order; each yields its rows. Recording spans as events (the
# other direction) adds its part here, measured the same way.
PARTS: dict[str, Callable[[argparse.Namespace], Iterator[Row]]] = {
    "export": export_rows,
    "record": record_rows,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small session, 1 round")
    parser.add_argument("--events", type=int, default=10_000, help="events of the session")
    parser.add_argument("--rounds", type=int, default=9, help="rounds counted of each part")
    parser.add_argument("--receive", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.receive:
        receive()
        return
    if options.quick:
        options.events, options.rounds = 1000, 1
    print(
        f"OpenTelemetry export: one session of {options.events:,} events, {options.rounds} rounds"
    )
    print()
    print(f"{'benchmark':<40} {'spans':>6} {'spans/s':>9} {'p10':>9} {'p90':>9} {'vs memory':>9}")
    for part in PARTS.values():
        rows = list(part(options))
        base = next((statistics.median(r.rates) for r in rows if r.name == IN_MEMORY), None)
        for row in rows:
            median = statistics.median(row.rates)
            low, high = _deciles(row.rates)
            ratio = f"{median / base:.2f}x" if base else ""
            figures = f"{median:>9,.0f} {low:>9,.0f} {high:>9,.0f} {ratio:>9}"
            print(f"{row.name:<40} {row.spans:>6,} {figures}")


def _deciles(rates: list[float]) -> tuple[float, float]:
    """The 10th and 90th percentiles of the rounds' rates (one round: its rate twice)."""
    if len(rates) < 2:
        return rates[0], rates[0]
    cuts = statistics.quantiles(rates, n=10, method="inclusive")
    return cuts[0], cuts[-1]


if __name__ == "__main__":
    main()
