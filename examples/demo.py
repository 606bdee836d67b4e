"""Record a small agent session, then replay it and show the state derived from it.

Run it with ``make demo`` or ``python examples/demo.py``: it writes to ./agent-data, a
directory of JSONL files you can read with cat or jq, and replays the session with the
``agentstore`` command.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import agentstore


def search_flights(route: str) -> list[dict[str, object]]:
    """A stand-in for a real tool."""
    time.sleep(0.05)
    return [{"id": "LH1234", "price": 89.5}, {"id": "EW5678", "price": 64.0}]


def book_flight(flight: str) -> None:
    """A stand-in for a tool that fails."""
    raise TimeoutError("booking API timed out after 30s")


def ask_llm(prompt: str) -> dict[str, Any]:
    """A stand-in for an LLM client: what ``openai``'s ``chat.completions.create`` returns."""
    time.sleep(0.1)
    return {
        "object": "chat.completion",
        "model": "gpt-4o-2024-08-06",
        "choices": [{"message": {"content": "Two options: LH1234 at €89.50, EW5678 at €64."}}],
        "usage": {"prompt_tokens": 850, "completion_tokens": 320},
    }


def record_session(store: agentstore.Store) -> str:
    """Record what a flight-search agent does, a line per step; return the session id."""
    session = store.create_session(name="flight-search", labels={"agent": "travel"})
    agent = store.recorder(session.id)
    agent.user_message("Berlin to Munich, Friday")
    agent.plan(["search_flights", "summarise", "book_flight"])

    with agent.tool_call("search_flights", {"route": "BER → MUC"}) as call:
        call.set_result(search_flights("BER → MUC"))

    # Model, tokens and text come from the response; the cost from a price table.
    with agent.llm_call("gpt-4o", {"prompt": "Summarise these flights"}) as llm:
        llm.set_response(ask_llm("Summarise these flights"))

    try:
        with agent.tool_call("book_flight", {"flight": "EW5678"}):
            book_flight("EW5678")
    except TimeoutError:
        agent.state({"status": "waiting for the booking API"})
    return session.id


def main() -> None:
    with agentstore.open("./agent-data") as store:
        sid = record_session(store)
        state = store.get_state(sid)
        tokens = state.tokens
        print(
            f"Recorded session {sid}: {state.event_count} events, {tokens.input} tokens in / "
            f"{tokens.output} out, ${tokens.cost_usd:.5f}, {state.tool_calls} tool calls, "
            f"{state.errors} error"
        )
        print("\nIts state after the plan (time travel to seq 2):")
        print(json.dumps(store.get_state(sid, at_seq=2).data, indent=2, ensure_ascii=False))

    print(f"\n$ agentstore replay {sid[:8]}", flush=True)
    subprocess.run([sys.executable, "-m", "agentstore", "replay", sid], check=True)
    print(f"\nThe log: agent-data/events/{sid}.jsonl; more: agentstore stats {sid[:8]}")


if __name__ == "__main__":
    main()
