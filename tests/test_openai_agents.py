"""The OpenAI Agents SDK integration, driven by the real SDK with its scripted model, offline.

An agent with a real function tool runs through ``Runner.run`` with an
:class:`AgentStoreSession` as its memory and the tracing processor installed; the tests read
back what the store holds: the conversation, the timeline, tokens and cost.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import genai_prices
import pytest
from agents import Agent, RunConfig, Runner, function_tool
from agents.memory import Session, SessionSettings
from agents.testing import ModelStep, ScriptedModel, assistant_message, function_call
from agents.tracing import (
    TracingProcessor,
    agent_span,
    function_span,
    generation_span,
    get_trace_provider,
    response_span,
    set_trace_processors,
    set_trace_provider,
    trace,
    turn_span,
)
from agents.tracing.provider import DefaultTraceProvider
from agents.usage import Usage
from openai.types.responses import Response, ResponseUsage
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

import agentstore
import agentstore.aio
from agentstore import (
    Event,
    InvalidArgumentError,
    InvalidSessionIdError,
    SessionNotFoundError,
    Store,
)
from agentstore.integrations.openai_agents import (
    AgentStoreSession,
    AgentStoreTracingProcessor,
)
from agentstore.integrations.openai_agents import tracing as tracing_module

ROOT = Path(__file__).parent.parent
POSTGRES = os.environ.get("AGENTSTORE_TEST_POSTGRES_URL", "")
BACKENDS = ["memory", "jsonl", "sqlite", "postgres"]
DURABLE = ["jsonl", "sqlite", "postgres"]

Target = tuple[str, dict[str, Any]]
_T = TypeVar("_T")


def _target(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    if backend == "memory":
        return ":memory:", {}
    if backend == "jsonl":
        return str(tmp_path / "agent-data"), {}
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'agent.db'}", {}
    return POSTGRES, {"schema": request.getfixturevalue("postgres_schema")}


@pytest.fixture(params=BACKENDS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    """Where a store lives, on every backend."""
    return _target(request.param, request, tmp_path)


@pytest.fixture(params=DURABLE)
def durable(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    """Where a store that outlives its object lives."""
    return _target(request.param, request, tmp_path)


@pytest.fixture
def store(target: Target) -> Iterator[Store]:
    location, options = target
    with agentstore.open(location, **options) as opened:
        yield opened


@pytest.fixture
def tracing() -> Iterator[Callable[[TracingProcessor], None]]:
    """Install processors on a fresh trace provider; the global one is put back after."""
    previous = get_trace_provider()
    set_trace_provider(DefaultTraceProvider())
    installed: list[TracingProcessor] = []

    def install(processor: TracingProcessor) -> None:
        installed.append(processor)
        set_trace_processors(installed)

    yield install
    for processor in installed:
        processor.shutdown()
    set_trace_provider(previous)


# The agent: a real function tool and the SDK's scripted model.

USAGE = Usage(
    requests=1,
    input_tokens=1200,
    output_tokens=80,
    total_tokens=1280,
    input_tokens_details=InputTokensDetails(cached_tokens=400, cache_write_tokens=0),
    output_tokens_details=OutputTokensDetails(reasoning_tokens=0),
)


@function_tool
def get_weather(city: str) -> str:
    """Return the weather in a city.

    Args:
        city: the city's name.
    """
    return f"Sunny, 21 °C in {city}"


def weather_agent(*replies: str) -> tuple[Agent[Any], ScriptedModel]:
    """An agent whose model calls get_weather, then answers with each reply in turn."""
    steps: list[ModelStep] = []
    for number, reply in enumerate(replies):
        call = function_call("get_weather", {"city": "Paris"}, call_id=f"call-{number}")
        steps.append(ModelStep(output=[call], usage=USAGE))
        steps.append(ModelStep(output=[assistant_message(reply)], usage=USAGE))
    model = ScriptedModel(steps, emit_traces=True)
    return Agent(name="forecaster", model=model, tools=[get_weather]), model


def _timeline(events: list[Event]) -> list[str]:
    return [e.type for e in events if not e.type.startswith("conversation.")]


RUN_TIMELINE = [
    "agent.start",
    "llm_request",
    "llm_response",
    "tool_called",
    "tool_result",
    "llm_request",
    "llm_response",
    "agent.end",
]


def _gpt4o_cost(calls: int) -> float:
    price = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=1200, cache_read_tokens=400, output_tokens=80),
        model_ref="gpt-4o",
        provider_id="openai",
    )
    return calls * float(price.total_price)


def test_a_run_is_recorded_as_a_timeline_with_tokens_and_cost(
    store: Store, tracing: Callable[[TracingProcessor], None]
) -> None:
    tracing(AgentStoreTracingProcessor(store, session_id="trip-1", model="gpt-4o"))
    agent, model = weather_agent("Sunny in Paris today.")
    session = AgentStoreSession("trip-1", store)

    result = asyncio.run(Runner.run(agent, "Weather in Paris?", session=session))

    assert result.final_output == "Sunny in Paris today."
    model.assert_complete()
    events = store.get_events("trip-1")
    assert _timeline(events) == RUN_TIMELINE
    by_type = {e.type: e for e in events}  # the last of each type
    called, answered = by_type["tool_called"], by_type["tool_result"]
    assert called.payload["arguments"] == {"city": "Paris"}
    assert called.metadata.tool_name == answered.metadata.tool_name == "get_weather"
    assert answered.payload["result"] == "Sunny, 21 °C in Paris"
    assert answered.metadata.cause_id == called.id
    requests = [e for e in events if e.type == "llm_request"]
    responses = [e for e in events if e.type == "llm_response"]
    assert [r.metadata.cause_id for r in responses] == [r.id for r in requests]
    assert all(r.metadata.model == "gpt-4o" for r in responses)
    assert by_type["agent.end"].metadata.cause_id == by_type["agent.start"].id
    assert by_type["agent.end"].payload["tools"] == ["get_weather"]

    tokens = store.get_state("trip-1").tokens
    assert (tokens.input, tokens.output, tokens.cache_read) == (2400, 160, 800)
    assert tokens.cost_usd == pytest.approx(_gpt4o_cost(2), rel=1e-9)
    assert tokens.unpriced == 0


def test_a_model_genai_prices_does_not_know_is_counted_as_unpriced(
    store: Store, tracing: Callable[[TracingProcessor], None]
) -> None:
    tracing(AgentStoreTracingProcessor(store, session_id="house", model="house-model-7"))
    agent, _ = weather_agent("Sunny.")

    asyncio.run(Runner.run(agent, "Weather in Paris?"))

    tokens = store.get_state("house").tokens
    assert (tokens.input, tokens.output) == (2400, 160)
    assert tokens.unpriced == 2
    assert tokens.cost_usd == 0


def test_a_second_run_sends_the_first_runs_history_to_the_model(
    store: Store, tracing: Callable[[TracingProcessor], None]
) -> None:
    tracing(AgentStoreTracingProcessor(store, session_id="chat", model="gpt-4o"))
    agent, model = weather_agent("Sunny in Paris.", "Still sunny.")
    session = AgentStoreSession("chat", store)

    asyncio.run(Runner.run(agent, "Weather in Paris?", session=session))
    second = asyncio.run(Runner.run(agent, "And now?", session=session))

    assert second.final_output == "Still sunny."
    sent = model.calls[2].input  # the second run's first model call
    assert isinstance(sent, list)
    assert sent[0] == {"role": "user", "content": "Weather in Paris?"}
    assert any(item.get("type") == "function_call_output" for item in sent)
    assert sent[-1] == {"role": "user", "content": "And now?"}
    history = asyncio.run(session.get_items())
    assert history[: len(sent)] == sent
    assert _timeline(store.get_events("chat")) == RUN_TIMELINE * 2


def test_run_sync_records_too(store: Store, tracing: Callable[[TracingProcessor], None]) -> None:
    tracing(AgentStoreTracingProcessor(store, session_id="sync-run", model="gpt-4o"))
    agent, _ = weather_agent("Sunny.")
    session = AgentStoreSession("sync-run", store)

    try:
        result = Runner.run_sync(agent, "Weather in Paris?", session=session)
    finally:  # run_sync leaves the thread's default event loop open, for later runs
        asyncio.get_event_loop_policy().get_event_loop().close()
        asyncio.set_event_loop(None)

    assert result.final_output == "Sunny."
    assert _timeline(store.get_events("sync-run")) == RUN_TIMELINE
    assert len(asyncio.run(session.get_items())) == 4


def test_each_trace_gets_its_own_session_by_default(
    store: Store, tracing: Callable[[TracingProcessor], None]
) -> None:
    tracing(AgentStoreTracingProcessor(store, model="gpt-4o", labels={"team": "travel"}))
    agent, _ = weather_agent("Sunny.")

    asyncio.run(Runner.run(agent, "Weather in Paris?"))

    (recorded,) = store.list_sessions(labels={"source": "openai-agents"})
    assert recorded.id.startswith("trace_")
    assert recorded.name == "Agent workflow"
    assert recorded.labels == {
        "source": "openai-agents",
        "workflow": "Agent workflow",
        "team": "travel",
    }
    assert _timeline(store.get_events(recorded.id)) == RUN_TIMELINE


def test_a_failing_tool_and_a_failing_model_are_recorded_as_errors(
    store: Store, tracing: Callable[[TracingProcessor], None]
) -> None:
    @function_tool
    def book_flight(flight: str) -> str:
        """Book a flight.

        Args:
            flight: the flight number.
        """
        raise ValueError("fully booked")

    model = ScriptedModel(
        [
            ModelStep(output=[function_call("book_flight", {"flight": "LH1"}, call_id="c")]),
            RuntimeError("model unavailable"),
        ],
        emit_traces=True,
    )
    agent = Agent(name="booker", model=model, tools=[book_flight])
    tracing(AgentStoreTracingProcessor(store, session_id="failing"))

    with pytest.raises(RuntimeError, match="model unavailable"):
        asyncio.run(Runner.run(agent, "Book LH1"))

    events = store.get_events("failing")
    assert _timeline(events) == [
        "agent.start",
        "llm_request",
        "llm_response",
        "tool_called",
        "error",
        "llm_request",
        "error",
        "error",
        "agent.end",
    ]
    called = next(e for e in events if e.type == "tool_called")
    tool_error, model_error, agent_error = (e for e in events if e.type == "error")
    assert tool_error.metadata.cause_id == called.id
    assert tool_error.metadata.tool_name == "book_flight"
    second_request = [e for e in events if e.type == "llm_request"][1]
    assert model_error.metadata.cause_id == second_request.id
    assert "model unavailable" in model_error.payload["error"]
    assert "model unavailable" in agent_error.payload["error"]
    assert store.get_state("failing").errors == 3


def test_model_spans_that_report_usage_are_not_counted_twice_with_their_turn(
    store: Store, tracing: Callable[[TracingProcessor], None]
) -> None:
    tracing(AgentStoreTracingProcessor(store, session_id="spans"))
    usage = {
        "input_tokens": 1000,
        "output_tokens": 50,
        "input_tokens_details": {"cached_tokens": 200, "cache_write_tokens": 0},
    }
    reply = [{"role": "assistant", "content": "Hello"}]
    # What the SDK's chat-completions models put on their spans, in a turn of a run.
    with trace("hand-made"), turn_span(turn=1, agent_name="a") as turn:
        with generation_span(model="gpt-4o-mini", usage=usage, output=reply):
            pass
        turn.span_data.usage = {"input_tokens": 1000, "output_tokens": 50}

    response = next(e for e in store.get_events("spans") if e.type == "llm_response")
    assert response.metadata.model == "gpt-4o-mini"
    assert response.payload["content"] == "Hello"
    assert (response.metadata.tokens_in, response.metadata.cache_read_tokens) == (1000, 200)
    tokens = store.get_state("spans").tokens
    assert (tokens.input, tokens.output) == (1000, 50)
    assert tokens.cost_usd > 0


def test_an_agent_used_as_a_tool_has_its_tokens_counted_once(
    store: Store, tracing: Callable[[TracingProcessor], None]
) -> None:
    tracing(AgentStoreTracingProcessor(store, session_id="nested", model="gpt-4o"))
    inner_model = ScriptedModel(
        [ModelStep(output=[assistant_message("21 °C")], usage=USAGE)], emit_traces=True
    )
    inner = Agent(name="meteorologist", model=inner_model)
    tool = inner.as_tool(tool_name="ask_meteorologist", tool_description="Ask for the weather")
    outer_model = ScriptedModel(
        [
            ModelStep(
                output=[function_call("ask_meteorologist", {"input": "Paris?"}, call_id="ask")],
                usage=USAGE,
            ),
            ModelStep(output=[assistant_message("It is 21 °C.")], usage=USAGE),
        ],
        emit_traces=True,
    )
    outer = Agent(name="host", model=outer_model, tools=[tool])

    asyncio.run(Runner.run(outer, "Weather in Paris?"))

    events = store.get_events("nested")
    assert [e.payload["agent"] for e in events if e.type == "agent.start"] == [
        "host",
        "meteorologist",
    ]
    responses = [e for e in events if e.type == "llm_response"]
    assert [r.metadata.tokens_in for r in responses] == [1200, 1200, 1200]
    assert store.get_state("nested").tokens.input == 3600


def test_a_responses_api_call_is_read_from_its_response(
    store: Store, tracing: Callable[[TracingProcessor], None]
) -> None:
    tracing(AgentStoreTracingProcessor(store, session_id="responses"))
    response = Response(
        id="resp-1",
        created_at=0,
        model="gpt-4o-2024-08-06",
        object="response",
        output=[assistant_message("Bonjour !")],
        tool_choice="auto",
        tools=[],
        parallel_tool_calls=False,
        usage=ResponseUsage(
            input_tokens=1200,
            output_tokens=80,
            total_tokens=1280,
            input_tokens_details=InputTokensDetails(cached_tokens=400, cache_write_tokens=0),
            output_tokens_details=OutputTokensDetails(reasoning_tokens=0),
        ),
    )
    # What the SDK's OpenAIResponsesModel puts on its span.
    with trace("hand-made"), response_span(response=response) as span:
        span.span_data.usage = {
            "input_tokens": 1200,
            "output_tokens": 80,
            "input_tokens_details": {"cached_tokens": 400, "cache_write_tokens": 0},
        }

    answer = next(e for e in store.get_events("responses") if e.type == "llm_response")
    assert answer.payload["content"] == "Bonjour !"
    assert (answer.metadata.model, answer.metadata.provider) == ("gpt-4o-2024-08-06", "openai")
    assert (answer.metadata.tokens_in, answer.metadata.cache_read_tokens) == (1200, 400)
    assert answer.metadata.cost_usd > 0


def test_a_handoff_is_recorded_between_the_two_agents(
    store: Store, tracing: Callable[[TracingProcessor], None]
) -> None:
    tracing(AgentStoreTracingProcessor(store, session_id="handoff"))
    model = ScriptedModel(
        [
            [function_call("transfer_to_specialist", {}, call_id="handoff-1")],
            [assistant_message("Done.")],
        ],
        emit_traces=True,
    )
    specialist = Agent(name="specialist", model=model)
    triage = Agent(name="triage", model=model, handoffs=[specialist])

    result = asyncio.run(Runner.run(triage, "Help me"))

    assert result.last_agent.name == "specialist"
    events = store.get_events("handoff")
    assert _timeline(events) == [
        "agent.start",
        "llm_request",
        "llm_response",
        "agent.handoff",
        "agent.end",
        "agent.start",
        "llm_request",
        "llm_response",
        "agent.end",
    ]
    handoff = next(e for e in events if e.type == "agent.handoff")
    assert handoff.payload == {"from_agent": "triage", "to_agent": "specialist"}
    assert [e.payload["agent"] for e in events if e.type == "agent.start"] == [
        "triage",
        "specialist",
    ]


def test_a_failing_store_is_logged_and_never_breaks_the_run(
    tmp_path: Path, tracing: Callable[[TracingProcessor], None], caplog: pytest.LogCaptureFixture
) -> None:
    store = agentstore.open(tmp_path / "agent-data")
    tracing(AgentStoreTracingProcessor(store, session_id="closed"))
    store.close()
    agent, _ = weather_agent("Sunny.")

    with caplog.at_level(logging.ERROR, logger="agentstore.integrations.openai_agents"):
        result = asyncio.run(Runner.run(agent, "Weather in Paris?"))

    assert result.final_output == "Sunny."
    assert any("could not record" in r.getMessage() for r in caplog.records)


# The Session protocol, on every backend.


def _contents(items: list[Any]) -> list[str]:
    return [item["content"] for item in items]


def test_the_session_follows_the_sdk_protocol(store: Store) -> None:
    session = AgentStoreSession("conversation-1", store)
    assert isinstance(session, Session)
    assert session.session_id == "conversation-1"

    async def scenario() -> None:
        assert await session.get_items() == []
        assert await session.pop_item() is None
        await session.add_items([{"role": "user", "content": "one"}])
        await session.add_items([])
        await session.add_items(
            [{"role": "assistant", "content": "two"}, {"role": "user", "content": "three"}]
        )
        assert _contents(await session.get_items()) == ["one", "two", "three"]
        assert _contents(await session.get_items(limit=2)) == ["two", "three"]
        assert await session.get_items(limit=0) == []
        assert len(await session.get_items(limit=10)) == 3

        assert await session.pop_item() == {"role": "user", "content": "three"}
        assert len(await session.get_items()) == 2
        await session.clear_session()
        assert await session.get_items() == []
        assert await session.pop_item() is None
        await session.add_items([{"role": "user", "content": "four"}])
        assert await session.get_items() == [{"role": "user", "content": "four"}]

    asyncio.run(scenario())
    assert [e.type for e in store.get_events("conversation-1")] == [
        "conversation.items",
        "conversation.items",
        "conversation.pop",
        "conversation.clear",
        "conversation.items",
    ]
    popped = store.get_events("conversation-1")[2].payload
    assert popped["item"] == {"role": "user", "content": "three"}
    assert popped["event_id"] == store.get_events("conversation-1")[1].id
    assert popped["index"] == 1
    assert store.get_session("conversation-1").labels == {"source": "openai-agents"}


def test_session_settings_give_the_default_limit(store: Store) -> None:
    session = AgentStoreSession("limited", store, session_settings=SessionSettings(limit=1))
    items: list[Any] = [{"role": "user", "content": str(n)} for n in range(3)]

    async def scenario() -> None:
        await session.add_items(items)
        assert await session.get_items() == items[-1:]
        assert await session.get_items(limit=2) == items[-2:]

    asyncio.run(scenario())


def test_the_items_returned_are_the_callers_own(store: Store) -> None:
    session = AgentStoreSession("copies", store)

    async def scenario() -> None:
        await session.add_items([{"role": "user", "content": "hi"}])
        items: list[Any] = await session.get_items()
        items[0]["content"] = "changed"
        assert await session.get_items() == [{"role": "user", "content": "hi"}]

    asyncio.run(scenario())


def test_a_restarted_store_has_the_same_history(durable: Target) -> None:
    location, options = durable
    items: list[Any] = [{"role": "user", "content": f"message {n}"} for n in range(4)]

    async def write() -> None:
        with agentstore.open(location, **options) as store:
            session = AgentStoreSession("kept", store)
            await session.add_items(items)
            await session.pop_item()

    async def read() -> list[Any]:
        with agentstore.open(location, **options) as store:
            return list(await AgentStoreSession("kept", store).get_items())

    asyncio.run(write())
    assert asyncio.run(read()) == items[:3]


def test_concurrent_adds_are_all_kept_and_concurrent_pops_take_different_items(
    durable: Target,
) -> None:
    location, options = durable

    async def scenario(store: Store) -> None:
        sessions = [AgentStoreSession("busy", store) for _ in range(4)]
        await asyncio.gather(
            *(sessions[n % 4].add_items([{"role": "user", "content": str(n)}]) for n in range(40))
        )
        items = await sessions[0].get_items()
        assert sorted(int(content) for content in _contents(items)) == list(range(40))
        popped = await asyncio.gather(*(session.pop_item() for session in sessions))
        assert len({str(item) for item in popped}) == 4
        assert await sessions[1].get_items() == items[:36]

    with agentstore.open(location, **options) as store:
        asyncio.run(scenario(store))


def test_a_bad_session_id_is_refused_up_front(store: Store) -> None:
    with pytest.raises(InvalidSessionIdError, match="may not start with"):
        AgentStoreSession("-bad", store)
    with pytest.raises(InvalidSessionIdError, match="contains '/'"):
        AgentStoreTracingProcessor(store, session_id="a/b")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"labels": {"team": 7}}, "labels must map non-empty str keys to str values"),
        ({"labels": {"": "support"}}, "labels must map non-empty str keys to str values"),
        ({"name": "x" * 300}, "session name must be at most 256 characters"),
    ],
    ids=["label-not-a-str", "empty-label-key", "name-too-long"],
)
def test_bad_labels_or_name_are_refused_up_front(options: dict[str, Any], message: str) -> None:
    # Not at the first use, inside a run, where the session would be created with them.
    with agentstore.open(":memory:") as store, pytest.raises(InvalidArgumentError, match=message):
        AgentStoreSession("refused", store, **options)


@pytest.mark.parametrize(
    ("options", "message"),
    [({"labels": {"team": 5}}, "label"), ({"name": 7}, "name")],
    ids=["labels", "name"],
)
def test_the_tracing_processor_refuses_bad_labels_or_name_up_front(
    options: dict[str, Any], message: str
) -> None:
    # Not at each trace, where the error would only be logged and nothing recorded.
    with agentstore.open(":memory:") as store, pytest.raises(InvalidArgumentError, match=message):
        AgentStoreTracingProcessor(store, session_id="refused", **options)


def test_a_missing_session_is_an_error_when_creating_is_off(store: Store) -> None:
    session = AgentStoreSession("absent", store, create=False)
    with pytest.raises(SessionNotFoundError):
        asyncio.run(session.get_items())


# The Session protocol's contract, as the SDK's SQLiteSession keeps it, on every backend.


def _history(count: int) -> list[Any]:
    """A conversation of ``count`` items, the user and the assistant taking turns."""
    roles = ("user", "assistant")
    return [{"role": roles[n % 2], "content": f"message {n}"} for n in range(count)]


def test_get_items_without_a_limit_returns_the_whole_history_oldest_first(store: Store) -> None:
    session = AgentStoreSession("whole", store)
    history = _history(6)

    async def scenario() -> None:
        assert await session.get_items() == []
        await session.add_items(history[:2])
        await session.add_items(history[2:])
        assert await session.get_items() == history
        assert await session.get_items(limit=None) == history

    asyncio.run(scenario())


# 6 items: limits below, at and above the history's length. From 7 to 11 (above the length,
# below twice it) a start computed as ``length - limit`` is negative and counts from the end.
@pytest.mark.parametrize("limit", [1, 3, 5, 6, 7, 10, 11, 12, 100])
def test_get_items_with_a_limit_returns_the_latest_items_oldest_first(
    store: Store, limit: int
) -> None:
    session = AgentStoreSession("latest", store)
    history = _history(6)

    async def scenario() -> list[Any]:
        await session.add_items(history[:4])
        await session.add_items(history[4:])
        return list(await session.get_items(limit=limit))

    assert asyncio.run(scenario()) == history[-limit:]


def test_a_limit_of_zero_returns_no_items(store: Store) -> None:
    session = AgentStoreSession("none", store, session_settings=SessionSettings(limit=4))

    async def scenario() -> None:
        await session.add_items(_history(6))
        assert await session.get_items(limit=0) == []

    asyncio.run(scenario())


@pytest.mark.parametrize("limit", [4, 6, 10])
@pytest.mark.parametrize("given_as", ["dict", "SessionSettings"])
def test_the_settings_limit_applies_when_get_items_is_given_none(
    store: Store, given_as: str, limit: int
) -> None:
    settings = {"limit": limit} if given_as == "dict" else SessionSettings(limit=limit)
    session = AgentStoreSession("settled", store, session_settings=settings)
    history = _history(6)

    async def scenario() -> None:
        await session.add_items(history)
        assert await session.get_items() == history[-limit:]
        # A limit given to the call wins over the settings.
        assert await session.get_items(limit=2) == history[-2:]
        assert await session.get_items(limit=0) == []

    assert isinstance(session.session_settings, SessionSettings)
    assert session.session_settings.limit == limit
    asyncio.run(scenario())


@pytest.mark.parametrize(
    "settings",
    [None, {}, {"limit": None}, SessionSettings()],
    ids=["none", "empty-dict", "dict-limit-none", "SessionSettings"],
)
def test_settings_without_a_limit_give_the_whole_history(store: Store, settings: Any) -> None:
    session = AgentStoreSession("unlimited", store, session_settings=settings)
    history = _history(6)

    async def scenario() -> list[Any]:
        await session.add_items(history)
        return list(await session.get_items())

    assert session.session_settings == SessionSettings()
    assert asyncio.run(scenario()) == history


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"limt": 10}, r"unknown session_settings field 'limt'; accepted: 'limit'"),
        ({"limit": 10, "max_age": 60}, r"field 'max_age'; accepted: 'limit'"),
        ({"limit": "ten"}, r"invalid session_settings: limit: Input should be a valid integer"),
        (10, r"session_settings must be a SessionSettings or a dict, not int"),
    ],
    ids=["misspelt-field", "extra-field", "bad-limit", "not-a-dict"],
)
def test_bad_session_settings_are_refused_up_front(settings: Any, message: str) -> None:
    with agentstore.open(":memory:") as store, pytest.raises(InvalidArgumentError, match=message):
        AgentStoreSession("refused", store, session_settings=settings)


def test_add_items_appends_to_its_own_session_only(store: Store) -> None:
    first, second = AgentStoreSession("first", store), AgentStoreSession("second", store)
    history, other = _history(5), _history(1)

    async def scenario() -> None:
        await first.add_items(history[:2])
        await second.add_items(other)
        await first.add_items([])
        await first.add_items(history[2:])
        assert await first.get_items() == history
        assert await second.get_items() == other
        # Another object over the same session reads the same history.
        assert await AgentStoreSession("first", store).get_items() == history

    asyncio.run(scenario())


def test_pop_item_returns_and_removes_the_last_item_of_its_own_session_only(
    store: Store,
) -> None:
    ours, theirs = AgentStoreSession("ours", store), AgentStoreSession("theirs", store)
    history, other = _history(3), _history(2)

    async def scenario() -> None:
        assert await ours.pop_item() is None  # nothing to pop yet
        await ours.add_items(history)
        await theirs.add_items(other)

        assert await ours.pop_item() == history[2]
        assert await ours.get_items() == history[:2]
        assert await theirs.get_items() == other
        assert [await ours.pop_item(), await ours.pop_item()] == [history[1], history[0]]
        assert await ours.pop_item() is None
        assert await ours.get_items() == []
        assert await theirs.get_items() == other

        assert await theirs.pop_item() == other[1]
        assert await AgentStoreSession("theirs", store).get_items() == other[:1]

    asyncio.run(scenario())


def test_clear_session_empties_its_own_session_only(store: Store) -> None:
    cleared, kept = AgentStoreSession("cleared", store), AgentStoreSession("kept", store)
    history = _history(4)

    async def scenario() -> None:
        await cleared.add_items(history)
        await kept.add_items(history)

        await cleared.clear_session()
        assert await cleared.get_items() == []
        assert await cleared.get_items(limit=2) == []
        assert await cleared.pop_item() is None
        assert await kept.get_items() == history
        await cleared.clear_session()  # clearing an empty session is allowed

        await cleared.add_items(history[:1])  # the conversation starts again
        assert await AgentStoreSession("cleared", store).get_items() == history[:1]
        assert await kept.get_items() == history

    asyncio.run(scenario())


def test_concurrent_add_items_from_many_tasks_keep_every_item_once(store: Store) -> None:
    session = AgentStoreSession("busy", store)
    batches: list[list[Any]] = [
        [{"role": "user", "content": f"task {task} item {n}"} for n in range(3)]
        for task in range(20)
    ]

    async def scenario() -> list[Any]:
        await asyncio.gather(*(session.add_items(batch) for batch in batches))
        return list(await AgentStoreSession("busy", store).get_items())

    items = asyncio.run(scenario())
    assert len(items) == 60
    # Each call's items stay together and in order, in the order the store appended them.
    appended = [items[start : start + 3] for start in range(0, 60, 3)]
    assert sorted(appended, key=str) == sorted(batches, key=str)
    events = store.get_events("busy")
    assert [e.type for e in events] == ["conversation.items"] * 20


@pytest.mark.parametrize(
    ("length", "session_settings", "run_settings"),
    [
        pytest.param(14, None, {"limit": 10}, id="run-config-dict"),
        pytest.param(14, None, SessionSettings(limit=10), id="run-config-SessionSettings"),
        pytest.param(14, {"limit": 10}, None, id="session-dict"),
        pytest.param(14, SessionSettings(limit=10), None, id="session-SessionSettings"),
        pytest.param(14, {"limit": 3}, {"limit": 10}, id="run-config-over-session-dict"),
        pytest.param(7, None, {"limit": 10}, id="history-shorter-than-the-limit"),
    ],
)
def test_a_limited_run_sends_the_model_the_latest_items_and_the_new_input(
    store: Store, length: int, session_settings: Any, run_settings: Any
) -> None:
    model = ScriptedModel([ModelStep(output=[assistant_message("Noted.")])])
    agent = Agent(name="assistant", model=model)
    session = AgentStoreSession("long-chat", store, session_settings=session_settings)
    config = RunConfig(session_settings=run_settings, tracing_disabled=True)
    history = _history(length)
    question = {"role": "user", "content": "And now?"}

    async def scenario() -> None:
        await session.add_items(history)
        result = await Runner.run(agent, "And now?", session=session, run_config=config)
        assert result.final_output == "Noted."

    asyncio.run(scenario())
    model.assert_complete()
    assert model.calls[0].input == [*history[-10:], question]
    # The limit is on what the model reads: the session keeps every item, and the turn.
    kept = asyncio.run(AgentStoreSession("long-chat", store).get_items())
    assert kept[: length + 1] == [*history, question]
    assert len(kept) == length + 2


# An AsyncStore: the session awaits it, the processor hands writes to its loop.


def test_an_async_store_records_the_run_and_keeps_the_conversation(
    durable: Target, tracing: Callable[[TracingProcessor], None]
) -> None:
    location, options = durable

    async def scenario() -> None:
        async with agentstore.aio.open(location, **options) as store:
            processor = AgentStoreTracingProcessor(store, session_id="async", model="gpt-4o")
            tracing(processor)
            agent, _ = weather_agent("Sunny.")
            session = AgentStoreSession("async", store)

            await Runner.run(agent, "Weather in Paris?", session=session)
            await processor.flush()

            assert _timeline(await store.get_events("async")) == RUN_TIMELINE
            assert len(await session.get_items()) == 4
            assert await session.pop_item() is not None
            assert len(await AgentStoreSession("async", store).get_items()) == 3
            tokens = (await store.get_state("async")).tokens
            assert tokens.cost_usd == pytest.approx(_gpt4o_cost(2), rel=1e-9)

    asyncio.run(scenario())


def test_an_async_store_needs_its_event_loop(tmp_path: Path) -> None:
    async def opened() -> agentstore.aio.AsyncStore:
        return await agentstore.aio.open(tmp_path / "agent-data")

    store = asyncio.run(opened())
    with pytest.raises(ValueError, match="event loop"):
        AgentStoreTracingProcessor(store)


def test_an_async_store_opened_on_another_loop_is_used_on_that_loop(durable: Target) -> None:
    location, options = durable
    home = asyncio.new_event_loop()
    thread = threading.Thread(target=home.run_forever, daemon=True)
    thread.start()

    def on_home(work: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(work, home).result()

    async def opened() -> agentstore.aio.AsyncStore:
        return await agentstore.aio.open(location, **options)

    store = on_home(opened())
    given = AgentStoreSession("elsewhere", store, loop=home)
    first_used_at_home = AgentStoreSession("elsewhere", store)

    async def converse() -> list[Any]:
        await given.add_items([{"role": "user", "content": "one"}])
        await given.add_items([{"role": "user", "content": "two"}])
        assert await given.pop_item() == {"role": "user", "content": "two"}
        return list(await first_used_at_home.get_items())

    try:
        assert on_home(first_used_at_home.get_items()) == []  # this binds it to the home loop
        assert asyncio.run(converse()) == [{"role": "user", "content": "one"}]
        assert on_home(given.get_items()) == [{"role": "user", "content": "one"}]
        on_home(store.aclose())
    finally:
        home.call_soon_threadsafe(home.stop)
        thread.join()
    with pytest.raises(RuntimeError, match="use a Store, or call the session from the store's"):
        asyncio.run(given.get_items())
    home.close()


def test_an_in_memory_async_store_serves_any_loop() -> None:
    async def opened() -> agentstore.aio.AsyncStore:
        return await agentstore.aio.open(":memory:")

    store = asyncio.run(opened())
    session = AgentStoreSession("anywhere", store)

    asyncio.run(session.add_items([{"role": "user", "content": "hi"}]))

    assert asyncio.run(session.get_items()) == [{"role": "user", "content": "hi"}]


# What the processor keeps: nothing of a trace once it ended.


def _run_traces(count: int) -> None:
    for number in range(count):
        arguments = f'{{"n": {number}}}'
        with (
            trace("workflow"),
            agent_span(name="worker"),
            function_span(name="lookup", input=arguments) as tool,
        ):
            tool.span_data.output = "found"


def _kept(processor: AgentStoreTracingProcessor) -> tuple[int, list[str], int]:
    writer = processor._writer
    return len(processor._traces), sorted(writer._recorders), len(writer._events)


@pytest.mark.parametrize("session_id", [None, "shared"])
def test_ended_traces_leave_no_state_in_the_processor(
    session_id: str | None,
    tracing: Callable[[TracingProcessor], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tracing_module, "_ENDED_TRACES_KEPT", 50)
    store = agentstore.open(":memory:")
    processor = AgentStoreTracingProcessor(store, session_id=session_id)
    tracing(processor)

    _run_traces(200)

    # One session per trace: its recorder goes with it; one session for all: it is kept.
    assert _kept(processor) == (0, [session_id] if session_id else [], 0)
    assert len(processor._ended) == 50  # the ids kept to ignore late spans are bounded
    sessions = store.list_sessions(limit=1000)
    assert len(sessions) == (1 if session_id else 200)
    recorded = [event for s in sessions for event in _timeline(store.get_events(s.id))]
    assert recorded == ["agent.start", "tool_called", "tool_result", "agent.end"] * 200


def test_ended_traces_leave_no_state_in_the_processor_of_an_async_store(
    tracing: Callable[[TracingProcessor], None],
) -> None:
    async def scenario() -> None:
        async with agentstore.aio.open(":memory:") as store:
            processor = AgentStoreTracingProcessor(store)
            tracing(processor)

            _run_traces(200)
            await processor.flush()

            assert _kept(processor) == (0, [], 0)
            assert len(await store.list_sessions(limit=1000)) == 200

    asyncio.run(scenario())


def test_a_span_ending_after_its_trace_is_ignored(
    tracing: Callable[[TracingProcessor], None], caplog: pytest.LogCaptureFixture
) -> None:
    store = agentstore.open(":memory:")
    processor = AgentStoreTracingProcessor(store)
    tracing(processor)
    run = trace("left running")
    run.start()
    tool = function_span(name="slow", input="{}", parent=run)
    tool.start()

    run.finish()
    with caplog.at_level(logging.DEBUG, logger="agentstore.integrations.openai_agents"):
        tool.finish()

    assert _kept(processor) == (0, [], 0)
    (recorded,) = store.list_sessions()
    assert _timeline(store.get_events(recorded.id)) == ["tool_called"]
    assert any("after its trace ended" in r.getMessage() for r in caplog.records)


def test_a_tool_keeps_its_arguments_when_another_trace_moves_first(
    tracing: Callable[[TracingProcessor], None],
) -> None:
    store = agentstore.open(":memory:")
    tracing(AgentStoreTracingProcessor(store, session_id="two-runs"))
    first, second = trace("first"), trace("second")
    first.start()
    second.start()

    # Two runs in two threads, as one thread sees them: the first run's tool starts, the
    # second run's agent starts before the first run's tool has its arguments.
    tool = function_span(name="get_weather", parent=first)
    tool.start()
    other = agent_span(name="other", parent=second)
    other.start()
    tool.span_data.input = '{"city": "Paris"}'
    tool.span_data.output = "Sunny"
    tool.finish()
    other.finish()
    first.finish()
    second.finish()

    events = store.get_events("two-runs")
    assert _timeline(events) == ["agent.start", "tool_called", "tool_result", "agent.end"]
    called = next(e for e in events if e.type == "tool_called")
    assert called.payload["arguments"] == {"city": "Paris"}
