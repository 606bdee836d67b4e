"""The LangChain callback handlers record a real langchain-core agent loop, offline.

The chat model is langchain-core's fake one, scripted with the messages a provider would
send (tool calls, ``usage_metadata``, ``response_metadata``); the tools are real
``@tool`` functions. Every scenario runs on the memory, JSONL and SQLite backends.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from genai_prices import Usage, calc_price
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import LangSmithParams, LanguageModelInput
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.tools import BaseTool, tool

import agentstore
import agentstore.aio
from agentstore import Event, InvalidArgumentError, State, StoreClosedError
from agentstore.integrations.langchain import (
    AgentStoreCallbackHandler,
    AsyncAgentStoreCallbackHandler,
)
from agentstore.integrations.langchain import handlers as langchain_handlers

ROOT = Path(__file__).parent.parent


class ChatScripted(FakeMessagesListChatModel):
    """A fake chat model that describes itself as an OpenAI model does."""

    model: str = "gpt-4o"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        return LangSmithParams(ls_provider="openai", ls_model_name=self.model, ls_model_type="chat")


class ChatFailing(ChatScripted):
    """A chat model whose provider is down."""

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        raise ConnectionError("the provider is unreachable")


class ChatLegacy(ChatScripted):
    """A chat model that reports usage only in ``llm_output``, as older integrations do."""

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        usage = {"prompt_tokens": 40, "completion_tokens": 8, "total_tokens": 48}
        return ChatResult(
            generations=[ChatGeneration(message=AIMessage("Hello."))],
            llm_output={"token_usage": usage, "model_name": "gpt-4o"},
        )


@tool
def search_flights(route: str) -> str:
    """Find the flights on a route, cheapest first."""
    return f"{route}: LH1234 89.50 EUR, EW5678 64.00 EUR"


@tool
def book_flight(flight: str) -> str:
    """Book a flight."""
    raise TimeoutError(f"booking {flight} timed out")


TOOLS: dict[str, BaseTool] = {t.name: t for t in (search_flights, book_flight)}


def tool_call_reply(name: str, args: Mapping[str, Any], call_id: str) -> AIMessage:
    return AIMessage(
        "",
        tool_calls=[{"name": name, "args": dict(args), "id": call_id}],
        usage_metadata={
            "input_tokens": 120,
            "output_tokens": 20,
            "total_tokens": 140,
            "input_token_details": {"cache_read": 100},
        },
        response_metadata={"model_name": "gpt-4o"},
    )


def answer_reply(text: str, *, model: str = "gpt-4o") -> AIMessage:
    return AIMessage(
        text,
        usage_metadata={"input_tokens": 200, "output_tokens": 30, "total_tokens": 230},
        response_metadata={"model_name": model},
    )


def scripted(*replies: AIMessage) -> ChatScripted:
    return ChatScripted(responses=list(replies))


def gpt_4o_cost(tokens_in: int, tokens_out: int, cache_read: int = 0) -> float:
    usage = Usage(input_tokens=tokens_in, output_tokens=tokens_out, cache_read_tokens=cache_read)
    return float(calc_price(usage, model_ref="gpt-4o").total_price)


# An agent's loop, as LangChain agents run it: the model asks for tools until it answers.


def run_agent(model: ChatScripted, question: str, config: RunnableConfig) -> AIMessage:
    messages: list[BaseMessage] = [HumanMessage(question)]
    while True:
        reply = model.invoke(messages, config=config)
        messages.append(reply)
        if not reply.tool_calls:
            return reply
        messages.extend(
            TOOLS[call["name"]].invoke(call, config=config) for call in reply.tool_calls
        )


async def arun_agent(model: ChatScripted, question: str, config: RunnableConfig) -> AIMessage:
    messages: list[BaseMessage] = [HumanMessage(question)]
    while True:
        reply = await model.ainvoke(messages, config=config)
        messages.append(reply)
        if not reply.tool_calls:
            return reply
        messages.extend(
            [await TOOLS[call["name"]].ainvoke(call, config=config) for call in reply.tool_calls]
        )


@pytest.fixture(params=["memory", "jsonl", "sqlite"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a store is opened: each backend in turn."""
    if request.param == "memory":
        return ":memory:"
    if request.param == "jsonl":
        return str(tmp_path / "agent-data")
    return f"sqlite:///{tmp_path / 'agent.db'}"


def record(target: str, scenario: Callable[[RunnableConfig], object]) -> tuple[list[Event], State]:
    """Run ``scenario`` with a sync handler in its config; return what it recorded."""
    with agentstore.open(target) as store:
        store.create_session(id="trip-1")
        handler = AgentStoreCallbackHandler(store, "trip-1")
        try:
            scenario({"callbacks": [handler]})
        finally:
            events = store.get_events("trip-1")
            state = store.get_state("trip-1")
    return events, state


def arecord(target: str, scenario: Callable[[RunnableConfig], Any]) -> tuple[list[Event], State]:
    """Run the coroutine ``scenario`` with an async handler; return what it recorded."""

    async def run() -> tuple[list[Event], State]:
        async with agentstore.aio.open(target) as store:
            await store.create_session(id="trip-1")
            handler = AsyncAgentStoreCallbackHandler(store, "trip-1")
            try:
                await scenario({"callbacks": [handler]})
            finally:
                events = await store.get_events("trip-1")
                state = await store.get_state("trip-1")
        return events, state

    return asyncio.run(run())


def check_agent_loop(events: list[Event], state: State) -> None:
    """The timeline of one tool call between two model calls, paired and priced."""
    assert [e.type for e in events] == [
        "llm_request",
        "llm_response",
        "tool_called",
        "tool_result",
        "llm_request",
        "llm_response",
    ]
    request, response, called, result, request_2, response_2 = events
    assert request.payload["model"] == "gpt-4o"
    assert request.metadata.provider == "openai"
    assert request.payload["request"]["messages"] == [
        {"role": "human", "content": "Berlin to Munich on Friday?"}
    ]
    assert response.metadata.cause_id == request.id
    assert response.payload["content"] is None  # the model only asked for a tool
    assert response.payload["tool_calls"] == [
        {"id": "call_1", "name": "search_flights", "args": {"route": "BER-MUC"}}
    ]
    assert (response.metadata.tokens_in, response.metadata.tokens_out) == (120, 20)
    assert response.metadata.cache_read_tokens == 100
    assert response.metadata.cost_usd == gpt_4o_cost(120, 20, cache_read=100)

    assert called.payload == {
        "tool": "search_flights",
        "arguments": {"route": "BER-MUC"},
        "tool_call_id": "call_1",
    }
    assert called.metadata.tool_name == "search_flights"
    assert result.metadata.cause_id == called.id
    assert result.payload == {
        "tool": "search_flights",
        "result": "BER-MUC: LH1234 89.50 EUR, EW5678 64.00 EUR",
    }

    # The second request carries the conversation so far, the tool's answer included.
    roles = [m["role"] for m in request_2.payload["request"]["messages"]]
    assert roles == ["human", "ai", "tool"]
    assert request_2.payload["request"]["messages"][2]["tool_call_id"] == "call_1"
    assert response_2.metadata.cause_id == request_2.id
    assert response_2.payload == {"content": "EW5678 at 64 EUR is the cheapest."}

    assert (state.tokens.input, state.tokens.output, state.tokens.cache_read) == (320, 50, 100)
    expected = gpt_4o_cost(120, 20, cache_read=100) + gpt_4o_cost(200, 30)
    assert state.tokens.cost_usd == pytest.approx(expected, rel=1e-12)
    assert state.tokens.unpriced == 0
    assert state.tool_calls == 1


def agent_model() -> ChatScripted:
    return scripted(
        tool_call_reply("search_flights", {"route": "BER-MUC"}, "call_1"),
        answer_reply("EW5678 at 64 EUR is the cheapest."),
    )


QUESTION = "Berlin to Munich on Friday?"


def test_an_agent_loop_is_recorded_as_paired_priced_events(target: str) -> None:
    answers: list[AIMessage] = []
    events, state = record(
        target, lambda config: answers.append(run_agent(agent_model(), QUESTION, config))
    )
    assert answers[0].content == "EW5678 at 64 EUR is the cheapest."
    check_agent_loop(events, state)


def test_an_async_agent_loop_is_recorded_alike(target: str) -> None:
    async def scenario(config: RunnableConfig) -> None:
        answer = await arun_agent(agent_model(), QUESTION, config)
        assert answer.content == "EW5678 at 64 EUR is the cheapest."

    check_agent_loop(*arecord(target, scenario))


def test_the_sync_handler_records_an_async_run_too(target: str) -> None:
    # LangChain calls a sync handler from its thread pool during ainvoke.
    def scenario(config: RunnableConfig) -> None:
        asyncio.run(arun_agent(agent_model(), QUESTION, config))

    check_agent_loop(*record(target, scenario))


def check_failed_tool(events: list[Event]) -> None:
    assert [e.type for e in events] == ["tool_called", "error"]
    called, error = events
    assert called.payload["arguments"] == {"flight": "LH1234"}
    assert error.payload == {
        "error": "booking LH1234 timed out",
        "error_type": "TimeoutError",
        "tool": "book_flight",
    }
    assert error.metadata.tool_name == "book_flight"
    assert error.metadata.cause_id == called.id


def test_a_failing_tool_is_recorded_and_its_error_reaches_the_caller(target: str) -> None:
    def scenario(config: RunnableConfig) -> None:
        with pytest.raises(TimeoutError, match="timed out"):
            book_flight.invoke({"flight": "LH1234"}, config=config)

    events, state = record(target, scenario)
    check_failed_tool(events)
    assert (state.tool_calls, state.errors) == (1, 1)


def test_a_failing_tool_is_recorded_by_the_async_handler(target: str) -> None:
    async def scenario(config: RunnableConfig) -> None:
        with pytest.raises(TimeoutError, match="timed out"):
            await book_flight.ainvoke({"flight": "LH1234"}, config=config)

    events, _ = arecord(target, scenario)
    check_failed_tool(events)


def fail_to_parse(text: str) -> str:
    raise ValueError(f"cannot parse {text!r}")


def test_a_chain_error_is_recorded_once_where_it_was_raised(target: str) -> None:
    chain = RunnableLambda(str.strip) | RunnableLambda(fail_to_parse)

    def scenario(config: RunnableConfig) -> None:
        with pytest.raises(ValueError, match="cannot parse"):
            chain.invoke(" LH1234 ", config=config)

    events, state = record(target, scenario)
    # Not again for the RunnableSequence the exception leaves through.
    assert [e.payload for e in events] == [
        {"error": "cannot parse 'LH1234'", "error_type": "ValueError", "chain": "fail_to_parse"}
    ]
    assert state.errors == 1


def test_a_chain_error_is_recorded_once_by_the_async_handler(target: str) -> None:
    chain = RunnableLambda(str.strip) | RunnableLambda(fail_to_parse)

    async def scenario(config: RunnableConfig) -> None:
        with pytest.raises(ValueError, match="cannot parse"):
            await chain.ainvoke(" LH1234 ", config=config)

    events, _ = arecord(target, scenario)
    assert [(e.type, e.payload["chain"]) for e in events] == [("error", "fail_to_parse")]


def as_messages(text: str) -> list[BaseMessage]:
    return [HumanMessage(text)]


def test_a_model_error_in_a_chain_answers_its_request_and_nothing_more(target: str) -> None:
    chain = RunnableLambda(as_messages) | ChatFailing(responses=[])

    def scenario(config: RunnableConfig) -> None:
        with pytest.raises(ConnectionError):
            chain.invoke("Berlin to Munich?", config=config)

    events, _ = record(target, scenario)
    assert [e.type for e in events] == ["llm_request", "error"]
    request, error = events
    assert error.metadata.cause_id == request.id
    assert error.payload == {
        "error": "the provider is unreachable",
        "error_type": "ConnectionError",
    }


def test_a_chain_that_handles_an_error_inside_it_records_only_that_error(target: str) -> None:
    # The fallback handles the error: the run succeeds, and the error stays on record.
    chain = RunnableLambda(fail_to_parse).with_fallbacks([RunnableLambda(str.upper)])
    events, state = record(target, lambda config: chain.invoke("lh1234", config=config))
    assert [(e.type, e.payload["chain"]) for e in events] == [("error", "fail_to_parse")]
    assert state.errors == 1


def test_an_unknown_model_is_counted_as_unpriced_not_free(target: str) -> None:
    model = scripted(answer_reply("Hello.", model="acme-llm-9"))
    events, state = record(target, lambda config: model.invoke("Hi", config=config))
    response = events[-1]
    assert response.metadata.model == "acme-llm-9"
    assert (response.metadata.cost_usd, response.metadata.cost_source) == (0.0, "")
    assert (state.tokens.input, state.tokens.output) == (200, 30)
    assert (state.tokens.cost_usd, state.tokens.unpriced) == (0.0, 1)


def test_usage_reported_only_in_llm_output_is_recorded(target: str) -> None:
    model = ChatLegacy(responses=[])
    events, state = record(target, lambda config: model.invoke("Hi", config=config))
    response = events[-1]
    assert (response.metadata.model, response.payload["content"]) == ("gpt-4o", "Hello.")
    assert (state.tokens.input, state.tokens.output) == (40, 8)
    assert state.tokens.cost_usd == gpt_4o_cost(40, 8)


def test_concurrent_runs_of_a_batch_are_each_paired(target: str) -> None:
    # batch() runs the inputs on threads: every response must answer its own request.
    model = scripted(*(answer_reply(f"answer {n}") for n in range(8)))
    inputs: list[LanguageModelInput] = [f"question {n}" for n in range(8)]

    def scenario(config: RunnableConfig) -> None:
        model.batch(inputs, config={**config, "max_concurrency": 4})

    events, state = record(target, scenario)
    requests = {e.id: e for e in events if e.type == "llm_request"}
    responses = [e for e in events if e.type == "llm_response"]
    assert len(requests) == len(responses) == 8
    assert sorted(r.metadata.cause_id for r in responses) == sorted(requests)
    assert state.tokens.input == 8 * 200


def test_the_handler_creates_its_session_at_the_first_event(tmp_path: Path) -> None:
    with agentstore.open(tmp_path / "agent-data") as store:
        handler = AgentStoreCallbackHandler(
            store, "chat-42", name="support", labels={"channel": "web"}
        )
        scripted(answer_reply("Hello.")).invoke("Hi", config={"callbacks": [handler]})
        session = store.get_session("chat-42")
        assert (session.name, dict(session.labels), session.event_count) == (
            "support",
            {"channel": "web"},
            2,
        )
        # The next turn's handler records into the same session.
        again = AgentStoreCallbackHandler(store, "chat-42")
        again.recorder.user_message("Thanks!")
        scripted(answer_reply("Bye.")).invoke("Bye", config={"callbacks": [again]})
        assert store.get_session("chat-42").event_count == 5


def test_the_async_handler_creates_its_session_at_the_first_event(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with agentstore.aio.open(tmp_path / "agent-data") as store:
            handler = AsyncAgentStoreCallbackHandler(store, "chat-42", name="support")
            model = scripted(answer_reply("Hello."))
            await model.ainvoke("Hi", config={"callbacks": [handler]})
            session = await store.get_session("chat-42")
            assert (session.name, session.event_count) == ("support", 2)

    asyncio.run(scenario())


def test_an_invalid_session_id_is_refused_at_once() -> None:
    with agentstore.open(":memory:") as store, pytest.raises(agentstore.InvalidSessionIdError):
        AgentStoreCallbackHandler(store, "../escape")


def test_the_async_handler_gives_up_rather_than_hang_on_a_blocked_loop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A sync invoke on the store's loop blocks it while LangChain runs the handler on a
    # loop of its own, which waits for the store's loop: a deadlock without a time limit.
    monkeypatch.setattr(langchain_handlers, "_HOME_LOOP_TIMEOUT", 0.05)

    async def scenario() -> None:
        async with agentstore.aio.open(tmp_path / "agent-data") as store:
            handler = AsyncAgentStoreCallbackHandler(store, "trip-1")
            model = scripted(answer_reply("Hello."))
            answer = model.invoke("Hi", config={"callbacks": [handler]})
            assert answer.content == "Hello."

    with caplog.at_level(logging.WARNING):
        asyncio.run(scenario())
    assert "is it blocked by a sync invoke?" in caplog.text


def test_a_storage_failure_is_logged_and_the_run_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = agentstore.open(":memory:")
    handler = AgentStoreCallbackHandler(store, "trip-1")
    store.close()
    with caplog.at_level(logging.WARNING):
        answer = scripted(answer_reply("Hello.")).invoke("Hi", config={"callbacks": [handler]})
    assert answer.content == "Hello."
    assert "StoreClosedError" in caplog.text


def test_raise_error_lets_a_storage_failure_fail_the_run() -> None:
    store = agentstore.open(":memory:")
    handler = AgentStoreCallbackHandler(store, "trip-1", raise_error=True)
    store.close()
    with pytest.raises(StoreClosedError):
        scripted(answer_reply("Hello.")).invoke("Hi", config={"callbacks": [handler]})


class GraphBubbleUp(Exception):  # noqa: N818 - named as LangGraph names its interrupts
    """Stands for LangGraph's base class of interrupts."""


class GraphInterrupt(GraphBubbleUp):
    """An interrupt, waiting for a human."""


def test_langgraph_interrupts_are_not_recorded_as_errors(target: str) -> None:
    def ask_a_human(text: str) -> str:
        raise GraphInterrupt("approve the booking?")

    chain = RunnableLambda(str.strip) | RunnableLambda(ask_a_human)

    def scenario(config: RunnableConfig) -> None:
        with pytest.raises(GraphInterrupt):
            chain.invoke("LH1234", config=config)

    events, _ = record(target, scenario)
    assert events == []


def test_the_handlers_are_langchain_callback_handlers() -> None:
    # LangChain awaits an AsyncCallbackHandler's methods and calls the others directly.
    from langchain_core.callbacks import AsyncCallbackHandler

    assert issubclass(AgentStoreCallbackHandler, BaseCallbackHandler)
    assert not issubclass(AgentStoreCallbackHandler, AsyncCallbackHandler)
    assert issubclass(AsyncAgentStoreCallbackHandler, AsyncCallbackHandler)


# Options checked when the handler is made, not at its first event.


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"labels": {"team": 7}}, "labels must map non-empty str keys to str values"),
        ({"labels": {"": "support"}}, "labels must map non-empty str keys to str values"),
        ({"labels": ["support"]}, "labels must be a mapping of str to str, not list"),
        ({"name": "x" * 300}, "session name must be at most 256 characters"),
    ],
    ids=["label-not-a-str", "empty-label-key", "labels-not-a-mapping", "name-too-long"],
)
def test_bad_labels_or_name_are_refused_when_a_handler_is_made(
    options: dict[str, Any], message: str
) -> None:
    # Found at the first event instead, they would fail every callback, each failure only
    # logged by LangChain, and the run would go on with nothing recorded.
    with agentstore.open(":memory:") as store, pytest.raises(InvalidArgumentError, match=message):
        AgentStoreCallbackHandler(store, "trip-1", **options)

    async def make_async_handler() -> None:
        async with agentstore.aio.open(":memory:") as store:
            AsyncAgentStoreCallbackHandler(store, "trip-1", **options)

    with pytest.raises(InvalidArgumentError, match=message):
        asyncio.run(make_async_handler())


# Several threads, one handler: LangChain's batch and thread pool call it at once.


def traveller_model(number: int) -> ChatScripted:
    route = f"ROUTE-{number}"
    return scripted(
        tool_call_reply("search_flights", {"route": route}, f"call_{number}"),
        answer_reply(f"answer {number}"),
    )


def test_callbacks_from_many_threads_record_every_event_once(target: str) -> None:
    travellers = 8
    with agentstore.open(target) as store:
        # The session does not exist yet: every thread's first event races to create it.
        handler = AgentStoreCallbackHandler(store, "rush-hour", labels={"team": "travel"})
        start_together = threading.Barrier(travellers)

        def travel(number: int) -> AIMessage:
            start_together.wait()
            config: RunnableConfig = {"callbacks": [handler]}
            return run_agent(traveller_model(number), f"question {number}", config)

        with ThreadPoolExecutor(max_workers=travellers) as pool:
            answers = list(pool.map(travel, range(travellers)))
        events = store.get_events("rush-hour")
        state = store.get_state("rush-hour")
        assert store.get_session("rush-hour").labels == {"team": "travel"}

    assert [a.content for a in answers] == [f"answer {n}" for n in range(travellers)]
    assert len(events) == 6 * travellers
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert len({e.id for e in events}) == len(events)
    by_id = {e.id: e for e in events}
    answered = [e.metadata.cause_id for e in events if e.type in ("llm_response", "tool_result")]
    assert len(answered) == len(set(answered)) == 3 * travellers  # each start answered once
    # Each end answers its own thread's start, never another's.
    for event in events:
        if event.type == "llm_response" and event.payload.get("tool_calls"):
            request = by_id[event.metadata.cause_id]
            asked = request.payload["request"]["messages"][0]["content"]
            route = event.payload["tool_calls"][0]["args"]["route"]
            assert asked.replace("question ", "ROUTE-") == route
        if event.type == "tool_result":
            called = by_id[event.metadata.cause_id]
            assert event.payload["result"].startswith(called.payload["arguments"]["route"])
    assert state.tool_calls == travellers
    assert (state.tokens.input, state.tokens.output) == (320 * travellers, 50 * travellers)


def test_concurrent_runs_of_an_async_batch_are_each_paired(target: str) -> None:
    model = scripted(*(answer_reply(f"answer {n}") for n in range(8)))
    inputs: list[LanguageModelInput] = [f"question {n}" for n in range(8)]

    async def scenario(config: RunnableConfig) -> None:
        await model.abatch(inputs, config={**config, "max_concurrency": 4})

    events, state = arecord(target, scenario)
    requests = {e.id: e for e in events if e.type == "llm_request"}
    responses = [e for e in events if e.type == "llm_response"]
    assert len(requests) == len(responses) == 8
    assert sorted(r.metadata.cause_id for r in responses) == sorted(requests)
    assert state.tokens.input == 8 * 200


# What a user reads back besides the agent loop.


def test_a_completion_model_is_recorded_with_its_prompts(target: str) -> None:
    model = FakeListLLM(responses=["Bonjour."])
    events, _ = record(target, lambda config: model.invoke("Say hello in French", config=config))
    assert [e.type for e in events] == ["llm_request", "llm_response"]
    request, response = events
    assert request.payload["request"] == {"prompts": ["Say hello in French"]}
    assert response.metadata.cause_id == request.id
    assert response.payload["content"] == "Bonjour."


def test_the_worker_id_is_in_the_metadata_of_every_event(target: str) -> None:
    with agentstore.open(target) as store:
        handler = AgentStoreCallbackHandler(store, "trip-1", worker_id="planner-2")
        run_agent(agent_model(), QUESTION, {"callbacks": [handler]})
        with pytest.raises(TimeoutError):
            book_flight.invoke({"flight": "LH1234"}, config={"callbacks": [handler]})
        events = store.get_events("trip-1")
    assert len(events) == 8
    assert {e.metadata.worker_id for e in events} == {"planner-2"}
