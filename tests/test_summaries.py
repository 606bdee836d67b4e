"""One-line summaries and session figures, as timelines and ``agentstore stats`` show them."""

from __future__ import annotations

import pytest

import agentstore
from agentstore import EventType, Metadata, new_event
from agentstore.reports.stats import session_stats
from agentstore.reports.summaries import format_duration, summarize


@pytest.mark.parametrize(
    ("event", "summary"),
    [
        (new_event("user_message", {"content": "two\nlines"}), "“two lines”"),
        (new_event("user_message", {"text": "hi", "n": 1}), "“hi”"),
        (new_event("plan_created", {"steps": ["a", {"do": "b"}]}), '2 steps: a → {"do":"b"}'),
        (new_event("plan_created", {"plan": "search, then book"}), "search, then book"),
        (
            new_event("tool_called", {"tool": "search", "arguments": {"q": "x", "n": 2}}),
            'search(q="x", n=2)',
        ),
        (new_event("tool_called", {"name": "clock", "input": "now"}), "clock(“now”)"),
        (
            new_event("tool_result", {"result": [1, 2]}, metadata=Metadata(tool_name="t")),
            "t → [1,2]",
        ),
        (
            new_event(
                "llm_response",
                {"content": "ok"},
                metadata=Metadata(model="m", tokens_in=1200, tokens_out=30, cost_usd=0.5),
            ),
            "m · 1,200 in / 30 out · $0.5000 · “ok”",
        ),
        (new_event("llm_request", {}), "llm"),
        (
            new_event("error", {"message": "boom", "type": "ValueError", "tool": "parse"}),
            "parse: ValueError: boom",
        ),
        (new_event("error", {"code": 7}), '{"code":7}'),
        (new_event("custom", {}, metadata=Metadata(extra={"kind": "beat"})), '{"kind":"beat"}'),
        (new_event("my.type", [1, "two"]), '[1,"two"]'),
    ],
)
def test_each_type_has_a_summary_a_human_reads_first(event: agentstore.Event, summary: str) -> None:
    assert summarize(event) == summary


def test_summaries_fit_the_width_given() -> None:
    event = new_event(EventType.USER_MESSAGE, {"content": "x" * 500})
    assert summarize(event, width=40) == "“" + "x" * 38 + "…"
    assert len(summarize(event)) == 100


@pytest.mark.parametrize(
    ("milliseconds", "text"),
    [(0, "0 ms"), (640, "640 ms"), (1200, "1.2 s"), (185_000, "3m05s"), (7_380_000, "2h03m")],
)
def test_durations_read_at_a_glance(milliseconds: int, text: str) -> None:
    assert format_duration(milliseconds) == text


def test_session_figures_per_model_and_tool_agree_with_the_state() -> None:
    with agentstore.open(":memory:") as store:
        session = store.create_session()
        store.append_batch(
            session.id,
            [
                new_event("llm_request", {}, metadata=Metadata(model="a", tokens_in=10)),
                new_event(
                    "llm_response", {}, metadata=Metadata(model="a", tokens_out=5, cost_usd=0.25)
                ),
                new_event("llm_response", {}, metadata=Metadata(model="b", cost_usd=0.5)),
                new_event("tool_called", {"tool": "t"}),
                new_event("tool_result", {}, metadata=Metadata(tool_name="t", duration_ms=30)),
                new_event("tool_called", {}, metadata=Metadata(tool_name="t")),
                new_event("error", {"error": "no"}, metadata=Metadata(tool_name="t")),
                new_event("error", {"error": "the session's own"}),
            ],
        )
        stats = session_stats(store.get_session(session.id), store.get_events(session.id))
        state = store.get_state(session.id)
    assert (stats.tokens, stats.tool_calls, stats.errors) == (
        state.tokens,
        state.tool_calls,
        state.errors,
    )
    assert stats.models["a"].to_dict() == {
        "requests": 1,
        "responses": 1,
        "tokens_in": 10,
        "tokens_out": 5,
        "cost_usd": 0.25,
        "unpriced": 0,
    }
    assert stats.tools["t"].to_dict() == {
        "calls": 2,
        "results": 1,
        "errors": 1,
        "mean_duration_ms": 30,
    }
    assert set(stats.tools) == {"t"}
    assert stats.to_dict()["types"] == {
        "error": 2,
        "llm_request": 1,
        "llm_response": 2,
        "tool_called": 2,
        "tool_result": 1,
    }


def test_an_answer_without_text_names_the_tools_it_asks_for() -> None:
    event = new_event(
        "llm_response",
        {
            "content": None,
            "tool_calls": [
                {"name": "search_flights", "args": {"route": "BER-MUC"}},
                {"type": "function", "function": {"name": "weather", "arguments": "{}"}},
            ],
        },
        metadata=Metadata(model="gpt-4o", tokens_out=20, cost_usd=0.0002),
    )
    assert summarize(event) == "gpt-4o · 20 out · $0.0002 · calls search_flights, weather"


def test_conversation_items_and_agent_spans_read_as_a_conversation() -> None:
    items = new_event(
        "conversation.items",
        {
            "items": [
                {"role": "user", "content": "Weather in\\nParis?"},
                {"type": "function_call", "name": "get_weather", "arguments": '{"city":"Paris"}'},
                {"type": "function_call_output", "call_id": "c1", "output": "Sunny"},
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "It is sunny."}],
                },
            ]
        },
    )
    assert summarize(items, width=200) == (
        'user: Weather in\\nParis? | → get_weather({"city":"Paris"}) | ← Sunny '
        "| assistant: It is sunny."
    )
    popped = new_event("conversation.pop", {"item": {"role": "user", "content": "hi"}})
    assert summarize(popped) == "removed user: hi"
    assert summarize(new_event("conversation.clear", {})) == "cleared the conversation"
    end = new_event(
        "agent.end",
        {"agent": "forecaster", "tools": ["get_weather"]},
        metadata=Metadata(duration_ms=1400),
    )
    assert summarize(end) == "forecaster (tools: get_weather) in 1.4 s"
    handoff = new_event("agent.handoff", {"from_agent": "triage", "to_agent": "billing"})
    assert summarize(handoff) == "triage → billing"


def test_an_answer_of_unknown_usage_says_so_and_shows_what_was_kept() -> None:
    kept = new_event(
        "llm_response",
        {"content": None, "response": {"reply": "Paris."}},
        metadata=Metadata(model="mistral-large", duration_ms=900, cost_source="unknown"),
    )
    assert summarize(kept) == 'mistral-large · usage unknown · 900 ms · {"reply":"Paris."}'
    text = new_event(
        "llm_response", {"content": "Paris."}, metadata=Metadata(cost_source="unknown")
    )
    assert summarize(text) == "llm · usage unknown · “Paris.”"


def test_session_figures_count_answers_of_unknown_usage_per_model() -> None:
    with agentstore.open(":memory:") as store:
        session = store.create_session()
        agent = store.recorder(session.id)
        agent.llm_response(None, "Paris.", model="mistral-large")
        agent.llm_response(None, {"reply": "Rome."}, model="mistral-large")
        agent.llm_response(None, model="our-model", tokens_in=10, tokens_out=2)
        stats = session_stats(store.get_session(session.id), store.get_events(session.id))
        state = store.get_state(session.id)
    assert stats.tokens == state.tokens
    assert (stats.tokens.unknown, stats.tokens.unpriced) == (2, 1)
    assert stats.models["mistral-large"].to_dict()["unknown"] == 2
    assert "unknown" not in stats.models["our-model"].to_dict()
    assert stats.to_dict()["tokens"]["unknown"] == 2
