"""Recording an agent's work with a Recorder: shapes, pairing, durations, tokens and costs."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from genai_prices import Usage as PriceUsage
from genai_prices import calc_price
from openai.types.chat import ChatCompletion
from openai.types.responses import Response
from pydantic import BaseModel

import agentstore
import agentstore.aio
from agentstore import (
    Event,
    Metadata,
    Recorder,
    Snapshot,
    State,
    Store,
    TokenUsage,
    default_reducer,
)
from agentstore.recording import to_json
from agentstore.recording.async_recorder import AsyncRecorder
from agentstore.recording.pricing import price, price_source
from agentstore.recording.usage import extract_usage
from agentstore.state import DEFAULT_REDUCER_NAME, SEED_REDUCER_NAME, fold
from agentstore.verifying import verify

CHAT_COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1_760_000_000,
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": "Two flights: LH1234 and EW5678."},
        }
    ],
    "usage": {
        "prompt_tokens": 1200,
        "completion_tokens": 80,
        "total_tokens": 1280,
        "prompt_tokens_details": {"cached_tokens": 1024, "cache_write_tokens": 0},
    },
}
RESPONSE = {
    "id": "resp_1",
    "object": "response",
    "created_at": 1_760_000_000,
    "model": "gpt-4o-mini",
    "status": "completed",
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [],
    "output": [
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "Done.", "annotations": []}],
        }
    ],
    "usage": {
        "input_tokens": 300,
        "output_tokens": 20,
        "total_tokens": 320,
        "input_tokens_details": {"cached_tokens": 100, "cache_write_tokens": 50},
        "output_tokens_details": {"reasoning_tokens": 0},
    },
}
ANTHROPIC_MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [{"type": "text", "text": "Bonjour"}, {"type": "tool_use", "id": "t", "name": "x"}],
    "stop_reason": "end_turn",
    "usage": {
        "input_tokens": 50,
        "output_tokens": 10,
        "cache_read_input_tokens": 2000,
        "cache_creation_input_tokens": 500,
    },
}
# A google-genai GenerateContentResponse's model_dump(): the prompt count includes the
# cached tokens, and thinking is billed as output.
GEMINI_RESPONSE = {
    "candidates": [
        {
            "content": {
                "role": "model",
                "parts": [{"text": "The user wants…", "thought": True}, {"text": "Hallo"}],
            },
            "finish_reason": "STOP",
            "index": 0,
        },
    ],
    "model_version": "gemini-2.5-flash",
    "response_id": "r-1",
    "usage_metadata": {
        "prompt_token_count": 1500,
        "candidates_token_count": 40,
        "thoughts_token_count": 60,
        "cached_content_token_count": 1024,
        "total_token_count": 1600,
    },
}


@pytest.fixture(params=["memory", "jsonl"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    target = ":memory:" if request.param == "memory" else tmp_path / "data"
    with agentstore.open(target) as opened:
        yield opened


def store_of(recorder: Recorder) -> Store:
    """The store a recorder appends to (a recorder only needs its ``append``)."""
    assert isinstance(recorder.store, Store)
    return recorder.store


@pytest.fixture
def recorder(store: Store) -> Recorder:
    return store.recorder(store.create_session(name="agent").id)


def events(recorder: Recorder) -> list[Event]:
    return store_of(recorder).get_events(recorder.session_id)


def expected_cost(model: str, tokens_in: int, tokens_out: int, **cache: int) -> float:
    usage = PriceUsage(input_tokens=tokens_in, output_tokens=tokens_out, **cache)
    return float(calc_price(usage, model).total_price)


# Messages, plans and state


def test_messages_plans_and_state_have_the_shapes_the_timeline_reads(recorder: Recorder) -> None:
    recorder.user_message("Find flights to Munich", locale="de")
    recorder.plan(["search", "compare", "book"])
    recorder.plan("just answer")
    recorder.state({"step": 2, "done": False})
    assert [(e.type, e.payload) for e in events(recorder)] == [
        ("user_message", {"content": "Find flights to Munich", "locale": "de"}),
        ("plan_created", {"steps": ["search", "compare", "book"]}),
        ("plan_created", {"steps": ["just answer"]}),
        ("state_updated", {"step": 2, "done": False}),
    ]
    state = store_of(recorder).get_state(recorder.session_id)
    assert state.data["state_updated"] == {"step": 2, "done": False}


def test_a_worker_id_is_recorded_on_every_event(store: Store) -> None:
    session = store.create_session()
    recorder = store.recorder(session.id, worker_id="worker-7")
    recorder.user_message("hi")
    with recorder.tool_call("clock") as call:
        call.set_result("12:00")
    assert {e.metadata.worker_id for e in store.get_events(session.id)} == {"worker-7"}


# Tool calls


def test_a_decorated_tool_records_its_arguments_result_and_duration(recorder: Recorder) -> None:
    @recorder.tool
    def search_flights(origin: str, destination: str, *, max_results: int = 3) -> list[str]:
        return [f"{origin}-{destination}-{i}" for i in range(max_results)]

    assert search_flights("BER", destination="MUC", max_results=2) == ["BER-MUC-0", "BER-MUC-1"]
    called, result = events(recorder)
    assert (called.type, called.payload) == (
        "tool_called",
        {
            "tool": "search_flights",
            "arguments": {"origin": "BER", "destination": "MUC", "max_results": 2},
        },
    )
    assert called.metadata.tool_name == "search_flights"
    assert result.type == "tool_result"
    assert result.payload == {"tool": "search_flights", "result": ["BER-MUC-0", "BER-MUC-1"]}
    assert result.metadata.cause_id == called.id
    assert result.metadata.tool_name == "search_flights"
    assert search_flights.__name__ == "search_flights"  # wraps keeps the function's identity


def test_a_tool_that_raises_records_an_error_and_the_caller_still_sees_it(
    recorder: Recorder,
) -> None:
    @recorder.tool(name="clock")
    def slow_clock(zone: str) -> str:
        raise TimeoutError(f"no answer from {zone} after 30s")

    with pytest.raises(TimeoutError, match="Asia/Tokyo"):
        slow_clock("Asia/Tokyo")
    called, failed = events(recorder)
    assert failed.type == "error"
    assert failed.payload == {
        "error": "no answer from Asia/Tokyo after 30s",
        "error_type": "TimeoutError",
        "tool": "clock",
    }
    assert (failed.metadata.tool_name, failed.metadata.cause_id) == ("clock", called.id)
    state = store_of(recorder).get_state(recorder.session_id)
    assert (state.tool_calls, state.errors) == (1, 1)


def test_the_duration_is_the_time_the_tool_took(recorder: Recorder) -> None:
    with recorder.tool_call("sleep", {"seconds": 0.05}) as call:
        asyncio.run(asyncio.sleep(0.05))
        call.set_result("slept")
    assert call.outcome is not None
    assert call.outcome.metadata.duration_ms >= 50
    assert call.outcome.payload == {"tool": "sleep", "result": "slept"}


def test_a_decorated_method_is_recorded_without_self_or_cls(recorder: Recorder) -> None:
    class Flights:
        def __init__(self, airline: str) -> None:
            self.airline = airline

        @recorder.tool
        def search(self, origin: str, destination: str = "MUC") -> str:
            return f"{self.airline} {origin}-{destination}"

        @classmethod
        @recorder.tool
        def carriers(cls, country: str) -> list[str]:
            return [cls.__name__, country]

        def book(self, flight: str) -> str:
            return f"{self.airline}{flight}"

    flights = Flights("LH")
    assert flights.search("BER") == "LH BER-MUC"
    assert Flights.carriers("DE") == ["Flights", "DE"]
    assert recorder.tool(flights.book)("1234") == "LH1234"  # a bound method, too
    arguments = [e.payload["arguments"] for e in events(recorder) if e.type == "tool_called"]
    assert arguments == [
        {"origin": "BER", "destination": "MUC"},
        {"country": "DE"},
        {"flight": "1234"},
    ]


def test_a_method_called_with_arguments_it_does_not_take_is_recorded_without_self(
    recorder: Recorder,
) -> None:
    class Clock:
        @recorder.tool
        def now(self, zone: str) -> str:
            return zone

    with pytest.raises(TypeError):
        Clock().now("UTC", "extra")  # type: ignore[call-arg]
    called, failed = events(recorder)
    assert called.payload["arguments"] == {"args": ["UTC", "extra"], "kwargs": {}}
    assert failed.payload["error_type"] == "TypeError"


def test_an_async_recorder_records_a_decorated_method_without_self() -> None:
    async def scenario() -> list[Event]:
        async with agentstore.aio.open(":memory:") as store:
            recorder = store.recorder((await store.create_session()).id)

            class Weather:
                @recorder.tool
                async def forecast(self, city: str) -> str:
                    await asyncio.sleep(0)
                    return f"{city}: 3°C"

                @recorder.tool
                def units(self, system: str = "metric") -> str:
                    return system

            weather = Weather()
            assert await weather.forecast("Oslo") == "Oslo: 3°C"
            assert await weather.units() == "metric"
            return await store.get_events(recorder.session_id)

    recorded = asyncio.run(scenario())
    arguments = [e.payload["arguments"] for e in recorded if e.type == "tool_called"]
    assert arguments == [{"city": "Oslo"}, {"system": "metric"}]


def test_a_sync_recorder_records_async_tools(recorder: Recorder) -> None:
    @recorder.tool
    async def fetch(url: str) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"status": 200, "url": url}

    assert inspect.iscoroutinefunction(fetch)
    assert asyncio.run(fetch("https://example.org")) == {
        "status": 200,
        "url": "https://example.org",
    }
    assert [e.type for e in events(recorder)] == ["tool_called", "tool_result"]


def test_values_that_are_not_json_are_recorded_as_json_rather_than_refused(
    recorder: Recorder,
) -> None:
    class Flight(BaseModel):
        number: str
        price: float

    @dataclasses.dataclass
    class Query:
        origin: str
        when: datetime

    class Opaque:
        def __repr__(self) -> str:
            return "<Opaque>"

    @recorder.tool
    def book(query: Query, handle: Opaque) -> list[Flight]:
        return [Flight(number="LH1234", price=89.5)]

    book(Query("BER", datetime(2026, 11, 27, tzinfo=UTC)), Opaque())
    called, result = events(recorder)
    assert called.payload["arguments"] == {
        "query": {"origin": "BER", "when": "2026-11-27T00:00:00+00:00"},
        "handle": "<Opaque>",
    }
    assert result.payload["result"] == [{"number": "LH1234", "price": 89.5}]


# LLM calls


def test_an_llm_call_records_request_and_response_with_tokens_and_cost(
    recorder: Recorder,
) -> None:
    messages = [{"role": "user", "content": "Summarise the options"}]
    with recorder.llm_call("gpt-4o", {"messages": messages}) as llm:
        llm.set_response(ChatCompletion.model_validate(CHAT_COMPLETION))
    request, response = events(recorder)
    assert (request.type, request.payload) == (
        "llm_request",
        {"model": "gpt-4o", "request": {"messages": messages}},
    )
    assert response.type == "llm_response"
    assert response.payload == {"content": "Two flights: LH1234 and EW5678."}
    metadata = response.metadata
    assert (metadata.model, metadata.provider) == ("gpt-4o-2024-08-06", "openai")
    assert (metadata.tokens_in, metadata.tokens_out, metadata.cache_read_tokens) == (1200, 80, 1024)
    assert metadata.cause_id == request.id
    assert metadata.cost_usd == pytest.approx(
        expected_cost("gpt-4o-2024-08-06", 1200, 80, cache_read_tokens=1024)
    )
    assert metadata.cost_source == price_source()
    tokens = store_of(recorder).get_state(recorder.session_id).tokens
    assert (tokens.input, tokens.output, tokens.cache_read, tokens.unpriced) == (1200, 80, 1024, 0)
    assert tokens.cost_usd == pytest.approx(metadata.cost_usd)


def test_an_llm_call_that_raises_records_an_error_pointing_at_the_request(
    recorder: Recorder,
) -> None:
    with pytest.raises(ConnectionError), recorder.llm_call("gpt-4o") as llm:
        raise ConnectionError("rate limited")
    request, failed = events(recorder)
    assert failed.payload == {"error": "rate limited", "error_type": "ConnectionError"}
    assert failed.metadata.cause_id == request.id
    assert llm.outcome == failed


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        # Many servers speak OpenAI's shapes: the provider is the caller's to say.
        (CHAT_COMPLETION, ("gpt-4o-2024-08-06", "", 1200, 80, 1024, 0)),
        (RESPONSE, ("gpt-4o-mini", "", 300, 20, 100, 50)),
        # Anthropic counts cached tokens apart from input_tokens: tokens_in adds them up.
        (ANTHROPIC_MESSAGE, ("claude-sonnet-4-5", "anthropic", 2550, 10, 2000, 500)),
        (
            {k: v for k, v in ANTHROPIC_MESSAGE.items() if k not in ("type", "role")},
            ("claude-sonnet-4-5", "anthropic", 2550, 10, 2000, 500),
        ),
        (GEMINI_RESPONSE, ("gemini-2.5-flash", "google", 1500, 100, 1024, 0)),
    ],
    ids=["chat-completions", "responses", "anthropic-messages", "anthropic-no-type", "gemini"],
)
def test_usage_is_read_from_each_client_shape_as_dict_and_object(
    response: dict[str, Any], expected: tuple[Any, ...]
) -> None:
    for shape in (response, _namespace(response)):
        usage = extract_usage(shape)
        assert usage is not None
        found = (
            usage.model,
            usage.provider,
            usage.tokens_in,
            usage.tokens_out,
            usage.cache_read_tokens,
            usage.cache_write_tokens,
        )
        assert found == expected


def test_the_text_of_each_shape_becomes_the_content() -> None:
    shapes = (CHAT_COMPLETION, RESPONSE, ANTHROPIC_MESSAGE, GEMINI_RESPONSE)
    texts = [extract_usage(r).content for r in shapes]  # type: ignore[union-attr]
    assert texts == ["Two flights: LH1234 and EW5678.", "Done.", "Bonjour", "Hallo"]
    response = Response.model_validate(RESPONSE)  # the openai package's own object
    assert extract_usage(response) == extract_usage(RESPONSE)


def test_something_that_is_not_a_response_gives_no_usage() -> None:
    assert extract_usage({"text": "hello"}) is None
    assert extract_usage("hello") is None
    assert extract_usage(None) is None


def test_a_message_sent_to_a_model_is_not_read_as_its_answer() -> None:
    sent = {"type": "message", "role": "user", "content": [{"type": "text", "text": "Hi"}]}
    assert extract_usage(sent) is None


def test_geminis_rest_api_is_read_under_its_camel_case_names() -> None:
    rest = {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "Hallo"}]}}],
        "modelVersion": "gemini-2.5-flash",
        "usageMetadata": {
            "promptTokenCount": 1500,
            "candidatesTokenCount": 40,
            "thoughtsTokenCount": 60,
            "cachedContentTokenCount": 1024,
            "totalTokenCount": 1600,
        },
    }
    usage = extract_usage(rest)
    assert usage is not None
    assert (usage.model, usage.tokens_in, usage.tokens_out, usage.content) == (
        "gemini-2.5-flash",
        1500,
        100,
        "Hallo",
    )
    assert usage == extract_usage(GEMINI_RESPONSE)


def test_a_gemini_answer_without_candidate_counts_takes_its_output_from_the_total() -> None:
    # What a tool-using turn reports: prompt and tool-use prompt in, the rest out.
    usage = extract_usage(
        {
            "candidates": [],
            "model_version": "gemini-2.0-flash",
            "usage_metadata": {
                "prompt_token_count": 100,
                "tool_use_prompt_token_count": 20,
                "total_token_count": 150,
            },
        }
    )
    assert usage is not None
    assert (usage.tokens_in, usage.tokens_out, usage.content) == (120, 30, None)


def test_a_gemini_call_is_priced_by_googles_table(recorder: Recorder) -> None:
    answer = recorder.llm_response(None, _namespace(GEMINI_RESPONSE))  # as the SDK's object
    assert answer.payload == {"content": "Hallo"}
    assert (answer.metadata.model, answer.metadata.provider) == ("gemini-2.5-flash", "google")
    assert answer.metadata.cost_usd == pytest.approx(
        expected_cost("gemini-2.5-flash", 1500, 100, cache_read_tokens=1024)
    )
    assert store_of(recorder).get_state(recorder.session_id).tokens.unknown == 0


# Responses the recorder cannot read: kept, and counted as calls of unknown usage


@pytest.mark.parametrize(
    ("response", "payload"),
    [
        ("Paris.", {"content": "Paris."}),
        (
            {"output": {"text": "Paris."}, "meta": {"billed_units": 12}},
            {
                "content": None,
                "response": {"output": {"text": "Paris."}, "meta": {"billed_units": 12}},
            },
        ),
        (
            SimpleNamespace(answer="Paris.", tokens=12),
            {"content": None, "response": "namespace(answer='Paris.', tokens=12)"},
        ),
    ],
    ids=["text", "dict", "object"],
)
def test_a_response_the_recorder_cannot_read_is_kept_and_counted_as_unknown(
    recorder: Recorder, response: Any, payload: dict[str, Any]
) -> None:
    request = recorder.llm_request("mistral-large", provider="mistral")
    answer = recorder.llm_response(request, response)
    assert answer.payload == payload
    assert (answer.metadata.cost_source, answer.metadata.cost_usd) == ("unknown", 0.0)
    assert (answer.metadata.model, answer.metadata.tokens_in) == ("mistral-large", 0)
    tokens = store_of(recorder).get_state(recorder.session_id).tokens
    assert (tokens.unknown, tokens.unpriced) == (1, 0)
    assert tokens.to_dict()["unknown"] == 1


def test_a_text_given_to_an_llm_call_is_its_content(recorder: Recorder) -> None:
    with recorder.llm_call("llama3", provider="ollama") as llm:
        llm.set_response("Bonjour")
    assert llm.outcome is not None
    assert llm.outcome.payload == {"content": "Bonjour"}
    assert llm.outcome.metadata.cost_source == "unknown"


def test_a_known_shape_that_says_nothing_of_its_tokens_is_of_unknown_usage(
    recorder: Recorder,
) -> None:
    # A stream gathered into one completion carries no usage unless it was asked for.
    streamed = {**CHAT_COMPLETION, "usage": None}
    answer = recorder.llm_response(None, streamed)
    assert answer.payload == {"content": "Two flights: LH1234 and EW5678."}
    assert (answer.metadata.model, answer.metadata.cost_source) == ("gpt-4o-2024-08-06", "unknown")
    for shape in (ANTHROPIC_MESSAGE, RESPONSE, GEMINI_RESPONSE):
        without = {key: value for key, value in shape.items() if "usage" not in key}
        usage = extract_usage(without)
        assert usage is not None
        assert not usage.tokens_known


def test_tokens_or_a_cost_the_caller_gives_make_the_usage_known(recorder: Recorder) -> None:
    counted = recorder.llm_response(None, "Paris.", model="our-model", tokens_in=9, tokens_out=2)
    paid = recorder.llm_response(None, "Paris.", cost_usd=0.001)
    assert (counted.payload, counted.metadata.cost_source) == ({"content": "Paris."}, "")
    assert paid.metadata.cost_source == "caller"
    tokens = store_of(recorder).get_state(recorder.session_id).tokens
    assert (tokens.unknown, tokens.unpriced, tokens.cost_usd) == (0, 1, 0.001)


def test_a_response_kept_as_json_keeps_the_content_the_caller_gives(recorder: Recorder) -> None:
    answer = recorder.llm_response(None, {"reply": "Paris."}, content="Paris.")
    assert answer.payload == {"content": "Paris.", "response": {"reply": "Paris."}}
    assert answer.metadata.cost_source == "unknown"


def test_a_snapshot_of_the_previous_default_reducer_is_not_read(tmp_path: Path) -> None:
    # A "default/2" snapshot does not count answers of unknown usage: starting from it
    # would count only those after it.
    with agentstore.open(tmp_path / "data", snapshot_interval=0) as store:
        agent = store.recorder(store.create_session().id)
        for _ in range(4):
            agent.llm_response(None, "an answer of unknown usage")
        state = store.get_state(agent.session_id)
        old = dataclasses.replace(state, tokens=dataclasses.replace(state.tokens, unknown=0))
        store.backend.write_snapshot(Snapshot(agent.session_id, 4, old, reducer="default/2"))
    with agentstore.open(tmp_path / "data") as store:
        assert store.get_state(agent.session_id).tokens.unknown == 4


def test_anthropic_cache_writes_are_priced(recorder: Recorder) -> None:
    response = recorder.llm_response(None, ANTHROPIC_MESSAGE)
    cost = expected_cost(
        "claude-sonnet-4-5", 2550, 10, cache_read_tokens=2000, cache_write_tokens=500
    )
    assert response.metadata.cost_usd == pytest.approx(cost)
    assert response.metadata.cache_write_tokens == 500


def test_given_values_override_what_the_response_says(recorder: Recorder) -> None:
    request = recorder.llm_request("gpt-4o", provider="azure")
    response = recorder.llm_response(
        request, CHAT_COMPLETION, content="edited", tokens_out=99, cost_usd=0.5
    )
    assert response.payload == {"content": "edited"}
    assert (response.metadata.tokens_in, response.metadata.tokens_out) == (1200, 99)
    assert response.metadata.provider == "azure"  # the caller knows which server it called
    assert response.metadata.model == "gpt-4o-2024-08-06"  # the response names the version


def test_the_model_and_provider_default_to_the_request(recorder: Recorder) -> None:
    request = recorder.llm_request("my-model", provider="local", stream=True)
    response = recorder.llm_response(request, content="ok", tokens_in=3, tokens_out=1)
    assert request.payload == {"model": "my-model", "stream": True}
    assert (response.metadata.model, response.metadata.provider) == ("my-model", "local")


# Cost


@pytest.mark.parametrize("cost", [0.25, 0.0])
def test_a_cost_the_caller_gives_always_wins(recorder: Recorder, cost: float) -> None:
    response = recorder.llm_response(None, CHAT_COMPLETION, cost_usd=cost)
    assert (response.metadata.cost_usd, response.metadata.cost_source) == (cost, "caller")
    tokens = store_of(recorder).get_state(recorder.session_id).tokens
    assert (tokens.cost_usd, tokens.unpriced) == (cost, 0)  # a free call is priced, at 0


def test_a_model_without_a_known_price_is_counted_as_unpriced_never_as_free(
    recorder: Recorder,
) -> None:
    recorder.llm_response(model="our-fine-tune-v3", tokens_in=500, tokens_out=40)
    recorder.llm_response(None, CHAT_COMPLETION)
    tokens = store_of(recorder).get_state(recorder.session_id).tokens
    assert tokens.unpriced == 1
    assert tokens.cost_usd == pytest.approx(
        expected_cost("gpt-4o", 1200, 80, cache_read_tokens=1024)
    )
    assert tokens.to_dict()["unpriced"] == 1


def test_without_the_price_table_tokens_stay_unpriced(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("agentstore.recording.pricing.price_source", lambda: None)
    response = recorder.llm_response(None, CHAT_COMPLETION)
    assert (response.metadata.cost_usd, response.metadata.cost_source) == (0.0, "")
    assert store_of(recorder).get_state(recorder.session_id).tokens.unpriced == 1


def test_a_recorder_can_be_told_not_to_price(store: Store) -> None:
    recorder = store.recorder(store.create_session().id, price=False)
    assert recorder.llm_response(None, CHAT_COMPLETION).metadata.cost_source == ""


def test_calls_are_priced_as_of_when_they_were_made() -> None:
    # claude-sonnet-4-6 became cheaper on 2026-03-13 in the table's history.
    metadata = Metadata(model="claude-sonnet-4-6", tokens_in=1_000_000, tokens_out=1_000_000)
    before = price(metadata, at=datetime(2026, 1, 1, tzinfo=UTC))
    after = price(metadata, at=datetime(2026, 11, 1, tzinfo=UTC))
    usage = PriceUsage(input_tokens=1_000_000, output_tokens=1_000_000)
    table = calc_price(
        usage, "claude-sonnet-4-6", genai_request_timestamp=datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert before.cost_usd == float(table.total_price)
    assert before.cost_usd != after.cost_usd
    assert before.provider == "anthropic"


def test_metadata_that_needs_no_price_is_returned_as_it_is() -> None:
    for metadata in (
        Metadata(model="gpt-4o"),
        Metadata(tokens_in=5),
        Metadata(model="gpt-4o", tokens_in=5, cost_usd=0.1),
        Metadata(model="gpt-4o", tokens_in=5, cost_source="our own table"),
    ):
        assert price(metadata) is metadata


def test_a_priced_state_survives_snapshots(tmp_path: Path) -> None:
    with agentstore.open(tmp_path / "data", snapshot_interval=2) as store:
        recorder = store.recorder(store.create_session().id)
        recorder.llm_response(model="unknown-model", tokens_in=5, tokens_out=1)
        recorder.llm_response(None, ANTHROPIC_MESSAGE)
        recorder.user_message("more")
        expected = store.get_state(recorder.session_id).tokens
    with agentstore.open(tmp_path / "data") as reopened:
        assert reopened.get_state(recorder.session_id).tokens == expected
    assert (expected.unpriced, expected.cache_read, expected.cache_write) == (1, 2000, 500)


def test_an_unknown_session_is_refused_when_recording(store: Store) -> None:
    recorder = store.recorder("no-such-session")
    with pytest.raises(agentstore.SessionNotFoundError):
        recorder.user_message("hello?")


def test_a_bad_session_id_is_refused_at_once(store: Store) -> None:
    with pytest.raises(agentstore.InvalidSessionIdError):
        store.recorder("../etc")


# The async recorder


def test_the_async_recorder_has_the_sync_ones_methods_and_arguments() -> None:
    for name, method in inspect.getmembers(Recorder, inspect.isfunction):
        if name.startswith("_"):
            continue
        twin = getattr(AsyncRecorder, name)
        assert (
            inspect.signature(twin).parameters.keys() == inspect.signature(method).parameters.keys()
        )
        returns_a_context = name in ("tool_call", "llm_call", "tool")
        assert inspect.iscoroutinefunction(twin) != returns_a_context, name


@pytest.mark.parametrize("backend", ["memory", "jsonl"])
def test_an_async_agent_records_the_same_timeline(backend: str, tmp_path: Path) -> None:
    async def agent() -> list[Event]:
        target = ":memory:" if backend == "memory" else tmp_path / "data"
        async with agentstore.aio.open(target) as store:
            recorder = store.recorder((await store.create_session()).id)
            await recorder.user_message("Weather in Oslo?")

            @recorder.tool
            async def weather(city: str) -> str:
                await asyncio.sleep(0)
                return f"{city}: 3°C"

            @recorder.tool
            async def broken(city: str) -> str:
                raise LookupError(city)

            async with recorder.llm_call("gpt-4o-mini", {"prompt": "plan"}) as llm:
                llm.set_response(RESPONSE)
            await asyncio.gather(weather("Oslo"), weather("Bergen"))
            with pytest.raises(LookupError):
                await broken("Atlantis")
            await recorder.state({"answered": True})
            return await store.get_events(recorder.session_id)

    recorded = asyncio.run(agent())
    kinds = [e.type for e in recorded]
    assert kinds[:3] == ["user_message", "llm_request", "llm_response"]
    assert sorted(kinds[3:7]) == ["tool_called", "tool_called", "tool_result", "tool_result"]
    assert kinds[7:] == ["tool_called", "error", "state_updated"]
    by_id = {e.id: e for e in recorded}
    for result in (e for e in recorded if e.type == "tool_result"):
        called = by_id[result.metadata.cause_id]
        assert called.payload["arguments"]["city"] in result.payload["result"]
    assert recorded[2].metadata.cost_usd == pytest.approx(
        expected_cost("gpt-4o-mini", 300, 20, cache_read_tokens=100, cache_write_tokens=50)
    )


def test_a_sync_function_decorated_by_an_async_recorder_becomes_a_coroutine_function() -> None:
    async def scenario() -> list[Event]:
        async with agentstore.aio.open(":memory:") as store:
            recorder = store.recorder((await store.create_session()).id)

            @recorder.tool
            def convert(amount: float, *, rate: float = 1.1) -> float:
                return round(amount * rate, 2)

            @recorder.tool(name="parse")
            def parse_amount(text: str) -> float:
                return float(text)

            assert inspect.iscoroutinefunction(convert)
            assert convert.__name__ == "convert"
            assert await convert(10) == 11.0
            with pytest.raises(ValueError, match="ten"):
                await parse_amount("ten")
            return await store.get_events(recorder.session_id)

    called, result, parse_called, failed = asyncio.run(scenario())
    assert called.payload == {"tool": "convert", "arguments": {"amount": 10, "rate": 1.1}}
    assert (result.payload["result"], result.metadata.cause_id) == (11.0, called.id)
    assert parse_called.payload == {"tool": "parse", "arguments": {"text": "ten"}}
    assert (failed.type, failed.payload["error_type"], failed.metadata.cause_id) == (
        "error",
        "ValueError",
        parse_called.id,
    )


def test_an_async_recorder_awaits_what_a_callable_hiding_a_coroutine_returns() -> None:
    class Lookup:
        __name__ = "lookup"

        async def __call__(self, key: str) -> str:
            await asyncio.sleep(0.02)
            return key.upper()

    async def scenario() -> list[Event]:
        async with agentstore.aio.open(":memory:") as store:
            recorder = store.recorder((await store.create_session()).id)
            lookup = recorder.tool(Lookup())
            assert await lookup("oslo") == "OSLO"
            return await store.get_events(recorder.session_id)

    called, result = asyncio.run(scenario())
    assert called.payload["arguments"] == {"key": "oslo"}
    assert result.payload["result"] == "OSLO"
    assert result.metadata.duration_ms >= 20


def test_an_async_tool_call_that_fails_records_the_error() -> None:
    async def scenario() -> list[Event]:
        async with agentstore.aio.open(":memory:") as store:
            recorder = store.recorder((await store.create_session()).id)
            with pytest.raises(KeyError):
                async with recorder.tool_call("lookup", {"key": "k"}):
                    raise KeyError("k")
            return await store.get_events(recorder.session_id)

    called, failed = asyncio.run(scenario())
    assert failed.payload["error_type"] == "KeyError"
    assert failed.metadata.cause_id == called.id


def _namespace(value: Any) -> Any:
    """A dict turned into attribute access, like a client library's response object."""
    if isinstance(value, dict):
        return SimpleNamespace(**{key: _namespace(item) for key, item in value.items()})
    if isinstance(value, list):
        return [_namespace(item) for item in value]
    return value


def test_prices_come_back_as_floats() -> None:
    priced = price(Metadata(model="gpt-4o", tokens_in=10, tokens_out=10))
    assert isinstance(priced.cost_usd, float)
    assert Decimal(str(priced.cost_usd)) > 0


def test_to_json_turns_what_json_cannot_hold_into_what_it_can() -> None:
    cyclic: list[Any] = [1]
    cyclic.append(cyclic)
    converted = to_json({1: {"a", "b"}, "nan": float("nan"), "cycle": cyclic, "bytes": b"\x00"})
    assert sorted(converted["1"]) == ["a", "b"]
    assert converted["nan"] == "nan"
    assert converted["bytes"] == "b'\\x00'"
    depth = 0
    inner = converted["cycle"]
    while isinstance(inner, list):
        inner, depth = inner[1], depth + 1
    assert isinstance(inner, str)  # cut off with a repr, never recursing forever
    assert depth < 64


def test_a_result_too_large_even_as_json_is_refused_and_nothing_is_written(
    recorder: Recorder,
) -> None:
    with (
        pytest.raises(agentstore.InvalidEventError, match="payload"),
        recorder.tool_call("dump") as call,
    ):
        call.set_result("x" * (2 << 20))
    # The call is recorded; its answer could not be, and no half of it was.
    assert [e.type for e in events(recorder)] == ["tool_called"]


@pytest.mark.parametrize(
    ("provider", "model", "priced_by"),
    [
        ("", "gpt-4o", "openai"),  # no provider: the model's name finds it
        ("openai", "gpt-4o", "openai"),
        ("google_genai", "gemini-2.5-flash", "google"),  # LangChain's name for Google's API
        ("openai", "claude-sonnet-4-5", None),  # a listed provider must list the model
        ("ollama", "llama3.1", None),  # served on the caller's machines: no price applies
        ("vLLM", "gpt-4o", None),
    ],
)
def test_the_provider_decides_where_the_model_is_looked_up(
    provider: str, model: str, priced_by: str | None
) -> None:
    metadata = Metadata(model=model, provider=provider, tokens_in=1000, tokens_out=100)
    priced = price(metadata)
    if priced_by is None:
        assert priced is metadata
    else:
        assert priced.cost_usd > 0
        assert priced.provider == (provider or priced_by)


def test_a_snapshot_of_the_seeds_reducer_is_not_mixed_into_the_new_counts(
    tmp_path: Path,
) -> None:
    # A snapshot saved before answers were counted as unpriced says 0 of them: starting
    # from it would count only the answers after it.
    with agentstore.open(tmp_path / "data", snapshot_interval=0) as store:
        session_id = store.create_session().id
        answer = Metadata(model="our-model", tokens_in=10, tokens_out=5)
        for _ in range(12):
            store.append(session_id, agentstore.new_event("llm_response", metadata=answer))
        first_ten = fold(default_reducer, State(session_id), store.get_events(session_id)[:10])
        old = dataclasses.replace(first_ten, tokens=TokenUsage(100, 50))
        store.backend.write_snapshot(Snapshot(session_id, 10, old, reducer=SEED_REDUCER_NAME))
    with agentstore.open(tmp_path / "data", snapshot_interval=12) as store:
        assert store.get_state(session_id).tokens.unpriced == 12
        assert verify(store).problems == []
        snapshot = store.backend.read_snapshot(session_id)
        assert snapshot is not None
        assert snapshot.reducer == DEFAULT_REDUCER_NAME  # the next one is the new reducer's


@pytest.mark.parametrize(
    ("provider", "priced"),
    [("", True), ("openai", True), ("ollama", False), ("vllm", False)],
)
def test_the_provider_of_the_request_decides_how_an_answer_is_priced(
    recorder: Recorder, provider: str, priced: bool
) -> None:
    # The same Chat Completion from OpenAI, or from a model served on our own machine.
    request = recorder.llm_request("gpt-4o", provider=provider)
    response = recorder.llm_response(request, CHAT_COMPLETION)
    assert response.metadata.provider == (provider or "openai")
    assert (response.metadata.cost_usd > 0) == priced
    assert store_of(recorder).get_state(recorder.session_id).tokens.unpriced == (not priced)


def test_cache_tokens_beyond_the_input_are_refused_and_nothing_is_written(
    recorder: Recorder,
) -> None:
    # A likely slip: Anthropic's own input_tokens leave the cached ones out.
    with pytest.raises(agentstore.InvalidEventError, match="cache_read_tokens"):
        recorder.llm_response(model="gpt-4o", tokens_in=100, tokens_out=5, cache_read_tokens=500)
    with pytest.raises(agentstore.InvalidEventError, match="cache"):
        Metadata(tokens_in=10, cache_read_tokens=6, cache_write_tokens=6)
    assert events(recorder) == []


def test_a_tool_whose_arguments_cannot_be_copied_still_runs(recorder: Recorder) -> None:
    @dataclasses.dataclass
    class Client:
        name: str
        lock: Any

    ran = []

    @recorder.tool
    def fetch(client: Client, count: int) -> int:
        ran.append(client.name)
        return count * 2**70  # wider than JSON readers take

    import threading

    assert fetch(Client("api", threading.Lock()), 1) == 2**70
    assert ran == ["api"]
    called, result = events(recorder)
    assert called.payload["arguments"]["client"]["name"] == "api"
    assert called.payload["arguments"]["client"]["lock"].startswith("<unlocked _thread.lock")
    assert result.payload["result"] == str(2**70)


def test_the_duration_of_a_decorated_tool_is_recorded(recorder: Recorder) -> None:
    @recorder.tool
    async def wait(seconds: float) -> str:
        await asyncio.sleep(seconds)
        raise TimeoutError("gave up")

    with pytest.raises(TimeoutError):
        asyncio.run(wait(0.03))
    called, failed = events(recorder)
    assert failed.payload["error_type"] == "TimeoutError"
    assert failed.metadata.duration_ms >= 30
    assert failed.metadata.cause_id == called.id
