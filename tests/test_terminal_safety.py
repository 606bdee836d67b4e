"""Stored data is untrusted on a terminal: no escape sequence of an agent's reaches it.

A label that clears the screen, a payload that rings the bell or hides text behind a
bidirectional override, a session name that forges a row of the table: the human-readable
output of every command shows them as escapes, and JSON output keeps them exact.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import agentstore
from agentstore import EventType, Metadata, new_event
from agentstore.reports.summaries import format_cost
from agentstore.reports.text import plural, printable

from .test_cli import run

HOSTILE = "\x1b[2J\x07\x9b6n\u202e\r"
FORBIDDEN = ("\x1b", "\x07", "\x9b", "\u202e", "\r")


@pytest.fixture(params=["jsonl", "sqlite"])
def hostile_store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """A store whose one session carries control characters in every field people read."""
    target = str(tmp_path / "data") if request.param == "jsonl" else f"sqlite:///{tmp_path}/a.db"
    with agentstore.open(target) as store:
        session = store.create_session(
            name=f"ok\nFAKE-ID  forged-row  9  2026-01-01{HOSTILE}",
            labels={"k": f"v{HOSTILE}"},
        )
        tool = Metadata(tool_name=f"search{HOSTILE}", model=f"gpt{HOSTILE}")
        store.append_batch(
            session.id,
            [
                new_event(EventType.USER_MESSAGE, {"content": f"hi{HOSTILE}"}),
                new_event(EventType.TOOL_CALLED, {"query": f"q{HOSTILE}"}, metadata=tool),
                new_event(EventType.LLM_RESPONSE, {"content": f"a{HOSTILE}"}, metadata=tool),
                new_event(EventType.ERROR, {"error": f"boom{HOSTILE}"}),
                new_event("custom", [f"list{HOSTILE}"]),
            ],
        )
    return target, session.id


@pytest.mark.parametrize(
    "command",
    [["sessions"], ["replay", "{id}"], ["stats", "{id}"], ["verify"]],
    ids=lambda command: command[0],
)
def test_no_control_character_of_stored_data_reaches_the_terminal(
    hostile_store: tuple[str, str], command: list[str]
) -> None:
    target, session_id = hostile_store
    shown = run("--store", target, *[part.format(id=session_id) for part in command]).stdout
    for character in FORBIDDEN:
        assert character not in shown, (character, shown)
    assert "\\x1b[2J" in shown or command[0] == "verify"


def test_a_name_with_a_newline_keeps_the_sessions_table_one_row_per_session(
    hostile_store: tuple[str, str],
) -> None:
    target, session_id = hostile_store
    rows = run("--store", target, "sessions").stdout.splitlines()
    assert len(rows) == 2  # the header and the one session
    assert rows[1].startswith(session_id)
    assert "ok\\nFAKE-ID" in rows[1]


def test_json_output_keeps_stored_text_exact(hostile_store: tuple[str, str]) -> None:
    target, session_id = hostile_store
    sessions = json.loads(run("--store", target, "sessions", "--format", "json").stdout)
    assert sessions[0]["labels"] == {"k": f"v{HOSTILE}"}
    events = json.loads(run("--store", target, "replay", session_id, "--format", "json").stdout)
    assert events[0]["payload"] == {"content": f"hi{HOSTILE}"}


def test_an_error_message_quoting_stored_data_is_escaped(tmp_path: Path) -> None:
    done = run("--store", str(tmp_path / "data"), "stats", f"x{HOSTILE}", check=1)
    for character in FORBIDDEN:
        assert character not in done.stderr


def test_printable_leaves_plain_text_and_escapes_the_rest() -> None:
    assert printable("Berlin → München, 10 € ✓") == "Berlin → München, 10 € ✓"
    assert printable("a\x1b[31mb\x07\x7f\x85") == "a\\x1b[31mb\\x07\\x7f\\x85"
    assert printable("one\ntwo\tthree\r") == "one\\ntwo\\tthree\\r"
    assert printable("one\ntwo\x1b", lines=True) == "one\ntwo\\x1b"
    assert printable("\u202eevil\u200b") == "\\u202eevil\\u200b"


def test_costs_show_their_significant_digits() -> None:
    assert format_cost(0.000027) == "$0.000027"
    assert format_cost(0.00012) == "$0.00012"
    assert format_cost(0.018) == "$0.0180"
    assert format_cost(0) == "$0.0000"


def test_counts_agree_with_their_nouns() -> None:
    assert plural(1, "session") == "1 session"
    assert plural(0, "error") == "0 errors"
    assert plural(1234, "event") == "1,234 events"
