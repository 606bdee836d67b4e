"""Calls whose usage the recorder could not read: kept by every backend, counted, and shown.

An answer of no shape the recorder knows (a plain string, another vendor's dict) has no
tokens and no cost; it is recorded with ``cost_source="unknown"`` so that totals say they
leave it out, instead of passing for a free call.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import agentstore
from agentstore.cli.app import cli
from agentstore.reports.stats import session_stats

POSTGRES_URL = os.environ.get("AGENTSTORE_TEST_POSTGRES_URL", "")


@pytest.fixture(params=["jsonl", "sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store that outlives the process writing it, on each backend."""
    if request.param == "jsonl":
        yield str(tmp_path / "data")
    elif request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'agent.db'}"
    elif not POSTGRES_URL:
        pytest.skip("set AGENTSTORE_TEST_POSTGRES_URL to run the PostgreSQL tests")
    else:
        import psycopg

        schema = f"test_{uuid.uuid4().hex[:16]}"
        yield f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}schema={schema}"
        with psycopg.connect(POSTGRES_URL, autocommit=True) as db:
            db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def record_run(target: str) -> str:
    """A run with one priced answer, one unpriced and two of unknown usage."""
    with agentstore.open(target) as store:
        agent = store.recorder(store.create_session(name="mixed").id)
        request = agent.llm_request("gpt-4o", provider="openai")
        agent.llm_response(request, content="priced", tokens_in=850, tokens_out=320, cost_usd=0.018)
        agent.llm_response(None, content="ok", model="our-own-model", tokens_in=120, tokens_out=8)
        request = agent.llm_request("gemini-1.0-pro", provider="google")
        agent.llm_response(request, {"reply": "Paris.", "billed": {"units": 3}})
        with agent.llm_call("llama3", provider="ollama") as llm:
            llm.set_response("Bonjour")
        return agent.session_id


def test_every_backend_keeps_what_marks_a_call_of_unknown_usage(target: str) -> None:
    session_id = record_run(target)
    with agentstore.open(target) as store:  # read back by a store that did not write it
        events = store.get_events(session_id)
        state = store.get_state(session_id)
        stats = session_stats(store.get_session(session_id), events)
    unknown = [e for e in events if e.metadata.cost_source == "unknown"]
    assert [e.payload for e in unknown] == [
        {"content": None, "response": {"reply": "Paris.", "billed": {"units": 3}}},
        {"content": "Bonjour"},
    ]
    assert (state.tokens.unknown, state.tokens.unpriced) == (2, 1)
    assert state.tokens.cost_usd == pytest.approx(0.018)
    assert stats.tokens == state.tokens
    assert (stats.models["gemini-1.0-pro"].unknown, stats.models["llama3"].unknown) == (1, 1)


def test_replay_and_stats_say_how_many_calls_their_cost_leaves_out(tmp_path: Path) -> None:
    target = str(tmp_path / "data")
    session_id = record_run(target)
    runner = CliRunner()
    replay = runner.invoke(cli, ["--store", target, "replay", session_id])
    assert replay.exit_code == 0, replay.output
    lines = replay.output.splitlines()
    assert "gemini-1.0-pro · usage unknown" in lines[4]
    assert "llama3 · usage unknown" in lines[6]
    assert lines[6].endswith("“Bonjour”")
    assert "$0.0180 + 1 unpriced call + 2 calls of unknown usage" in lines[-1]
    stats = runner.invoke(cli, ["--store", target, "stats", session_id])
    assert "Cost:       $0.0180 + 1 unpriced call + 2 calls of unknown usage" in stats.output
    rows = {line.split()[0]: line.split()[1:] for line in stats.output.splitlines() if line}
    assert rows["gemini-1.0-pro"] == ["1", "0", "0", "$0.0000", "+", "unknown"]
    figures = runner.invoke(cli, ["--store", target, "stats", session_id, "--format", "json"])
    assert '"unknown": 2' in figures.output
