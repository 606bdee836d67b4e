"""The Go library's fixture directory and the figures it must give."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentstore import Event, Session, State

FIXTURES = Path(__file__).parent / "fixtures"
DATADIR = FIXTURES / "seed-go-datadir"
EXPECTED: dict[str, dict[str, Any]] = json.loads(
    (FIXTURES / "seed-go-datadir.expected.json").read_text()
)


def assert_figures(session: Session, events: list[Event], state: State) -> None:
    """Check a seed session, its events and its state against the expected figures."""
    expected = EXPECTED[session.id]
    assert (session.name, dict(session.labels)) == (expected["name"], expected["labels"])
    assert session.event_count == expected["event_count"] == len(events)
    assert [e.seq for e in events] == list(range(1, expected["last_seq"] + 1))
    assert (state.version, state.event_count) == (expected["last_seq"], expected["event_count"])
    assert (state.tokens.input, state.tokens.output) == (
        expected["tokens_in"],
        expected["tokens_out"],
    )
    assert state.tokens.cost_usd == pytest.approx(expected["cost_usd"], abs=1e-12)
    assert (state.tool_calls, state.errors) == (expected["tool_calls"], expected["errors"])
    assert sorted(state.data) == expected["types"]
    assert state.last_event_at == events[-1].timestamp == session.updated_at
