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

import agentstore
from agentstore import EventType, Metadata, new_event


def search_flights(query: str) -> list[dict[str, object]]:
    """A stand-in for a real tool."""
    time.sleep(0.05)
    return [{"id": "LH1234", "price": 89.5}, {"id": "EW5678", "price": 64.0}]


def record_session(store: agentstore.Store) -> str:
    """Record what a flight-search agent does, event by event; return the session id."""
    session = store.create_session(name="flight-search", labels={"agent": "travel"})
    sid = session.id
    store.append(sid, new_event(EventType.USER_MESSAGE, {"content": "Berlin to Munich, Friday"}))
    store.append(sid, new_event(EventType.PLAN_CREATED, {"steps": ["search_flights", "summarise"]}))

    call = {"tool": "search_flights", "query": "BER → MUC"}
    tool = Metadata(tool_name="search_flights")
    store.append(sid, new_event(EventType.TOOL_CALLED, call, metadata=tool))
    started = time.perf_counter()
    flights = search_flights(call["query"])
    elapsed_ms = round((time.perf_counter() - started) * 1000)
    took = Metadata(tool_name="search_flights", duration_ms=elapsed_ms)
    store.append(sid, new_event(EventType.TOOL_RESULT, {"flights": flights}, metadata=took))

    store.append(
        sid,
        new_event(
            EventType.LLM_REQUEST,
            {"prompt": "Summarise these flights"},
            metadata=Metadata(model="gpt-4o", tokens_in=850),
        ),
    )
    store.append(
        sid,
        new_event(
            EventType.LLM_RESPONSE,
            {"content": "Two options: LH1234 at €89.50, EW5678 at €64."},
            metadata=Metadata(model="gpt-4o", tokens_out=320, duration_ms=640, cost_usd=0.018),
        ),
    )
    store.append(
        sid,
        new_event(
            EventType.ERROR,
            {"error": "booking API timed out after 30s", "tool": "book_flight"},
            metadata=Metadata(tool_name="book_flight", duration_ms=30_000),
        ),
    )
    return sid


def main() -> None:
    with agentstore.open("./agent-data") as store:
        sid = record_session(store)
        state = store.get_state(sid)
        tokens = state.tokens
        print(
            f"Recorded session {sid}: {state.event_count} events, {tokens.input} tokens in / "
            f"{tokens.output} out, ${tokens.cost_usd:.3f}, {state.tool_calls} tool call, "
            f"{state.errors} error"
        )
        print("\nIts state after the plan (time travel to seq 2):")
        print(json.dumps(store.get_state(sid, at_seq=2).data, indent=2, ensure_ascii=False))

    print(f"\n$ agentstore replay {sid[:8]}", flush=True)
    subprocess.run([sys.executable, "-m", "agentstore", "replay", sid], check=True)
    print(f"\nThe log: agent-data/events/{sid}.jsonl; more: agentstore stats {sid[:8]}")


if __name__ == "__main__":
    main()
