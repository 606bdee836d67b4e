"""The ``agentstore`` command, run as a user runs it: a real process on real stores.

Every test runs the command in a process of its own, on a JSONL directory, a SQLite file
and, when AGENTSTORE_TEST_POSTGRES_URL is set, a PostgreSQL schema of its own: forked from
one that has imported it (``commands.py``: a command then costs its own work, not an
interpreter's start), or, where the test is about the command's start (on a terminal,
following a log), the command installed beside this Python (``pip install`` puts it there).
"""

from __future__ import annotations

import itertools
import json
import os
import pty
import shutil
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import agentstore
from agentstore import EventType, Metadata, Store, new_event

from .commands import COMMANDS
from .seed_figures import DATADIR, EXPECTED

AGENTSTORE = str(Path(sys.executable).parent / "agentstore")
POSTGRES_URL = os.environ.get("AGENTSTORE_TEST_POSTGRES_URL", "")
BACKENDS = ["jsonl", "sqlite", "postgres"]


def run(*args: str, check: int | None = 0, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the command; ``check`` is the exit status expected (None: any)."""
    environment = {key: value for key, value in os.environ.items() if key != "AGENTSTORE_URL"}
    environment.update(env)
    done = COMMANDS.run(list(args), environment, timeout=60)
    if check is not None:
        assert done.returncode == check, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return done


def record_session(store: Store, *, name: str = "flight-search") -> str:
    """A small agent run: a question, a plan, a tool call and result, an LLM call, an error."""
    session = store.create_session(name=name, labels={"agent": "travel", "env": "test"})
    tool = Metadata(tool_name="search_flights")
    store.append_batch(
        session.id,
        [
            new_event(EventType.USER_MESSAGE, {"content": "Berlin to Munich, Friday"}),
            new_event(EventType.PLAN_CREATED, {"steps": ["search_flights", "summarise"]}),
            new_event(EventType.TOOL_CALLED, {"query": "BER → MUC"}, metadata=tool),
            new_event(
                EventType.TOOL_RESULT,
                {"flights": 2},
                metadata=Metadata(tool_name="search_flights", duration_ms=1200),
            ),
            new_event(
                EventType.LLM_REQUEST,
                {"prompt": "Summarise"},
                metadata=Metadata(model="gpt-4o", tokens_in=850),
            ),
            new_event(
                EventType.LLM_RESPONSE,
                {"content": "Two options."},
                metadata=Metadata(model="gpt-4o", tokens_out=320, cost_usd=0.018),
            ),
            new_event(
                EventType.ERROR,
                {"error": "booking timed out"},
                metadata=Metadata(tool_name="book_flight"),
            ),
        ],
    )
    return session.id


@pytest.fixture(params=BACKENDS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty store's target, as the command line takes it."""
    if request.param == "jsonl":
        yield str(tmp_path / "agent-data")
    elif request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'agent.db'}"
    else:
        yield from _postgres_target()


def _postgres_target() -> Iterator[str]:
    if not POSTGRES_URL:
        pytest.skip("set AGENTSTORE_TEST_POSTGRES_URL to run the PostgreSQL tests")
    import psycopg

    schema = f"test_{uuid.uuid4().hex[:16]}"
    yield f"{POSTGRES_URL}?schema={schema}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as db:
        db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
def recorded(target: str) -> tuple[str, str]:
    """A store holding one recorded session and a second one; returns (target, its id)."""
    with agentstore.open(target) as store:
        session_id = record_session(store)
        store.create_session(name="other", labels={"agent": "research"})
    return target, session_id


@pytest.fixture
def seed(tmp_path: Path) -> str:
    """A writable copy of the directory the Go library wrote."""
    copy = tmp_path / "seed"
    shutil.copytree(DATADIR, copy)
    for path in [copy, *copy.rglob("*")]:
        path.chmod(0o700 if path.is_dir() else 0o600)
    return str(copy)


# The Go library's directory


def test_sessions_lists_the_go_librarys_sessions_newest_first(seed: str) -> None:
    table = run("--store", seed, "sessions").stdout.splitlines()
    assert table[0].split() == ["ID", "NAME", "EVENTS", "CREATED", "(UTC)"]
    rows = {line.split()[0]: line for line in table[1:]}
    assert set(rows) == set(EXPECTED)
    assert rows["long-run-0001"].split()[1:3] == ["long-run", "250"]
    listed = json.loads(run("--store", seed, "sessions", "--format", "json").stdout)
    created = [session["created_at"] for session in listed]
    assert created == sorted(created, reverse=True)


def test_stats_gives_the_go_librarys_figures(seed: str) -> None:
    for session_id, figures in EXPECTED.items():
        stats = json.loads(run("--store", seed, "stats", session_id, "--format", "json").stdout)
        assert stats["events"] == figures["event_count"]
        assert stats["tokens"]["in"] == figures["tokens_in"]
        assert stats["tokens"]["out"] == figures["tokens_out"]
        assert stats["tokens"]["cost_usd"] == pytest.approx(figures["cost_usd"])
        assert stats["tool_calls"] == figures["tool_calls"]
        assert stats["errors"] == figures["errors"]
        assert sorted(stats["types"]) == figures["types"]
        assert stats["labels"] == figures["labels"]


def test_replay_json_is_the_stored_events(seed: str) -> None:
    events = json.loads(run("--store", seed, "replay", "long-run-0001", "--format=json").stdout)
    log = Path(seed, "events", "long-run-0001.jsonl").read_text(encoding="utf-8")
    stored = [json.loads(line) for line in log.splitlines()]
    assert len(events) == 250
    for shown, line in zip(events, stored, strict=True):
        # The seed's fields, unchanged; times are kept to the microsecond.
        assert shown["timestamp"][:26] == line.pop("timestamp")[:26]
        assert {key: shown[key] for key in line} == line
        assert shown["id"]


def test_replay_timeline_of_the_go_librarys_session(seed: str) -> None:
    lines = run("--store", seed, "replay", "0b14d4f8").stdout.splitlines()
    assert len(lines) == 7
    assert lines[0].split()[:3] == ["1", "+00:00.000", "user_message"]
    assert "Find flights from Berlin to Munich for next Friday" in lines[0]
    assert "search_flights" in lines[2]
    assert "BER → MUC" in lines[2]
    assert "1.2 s" in lines[3]
    assert "gpt-4" in lines[5]
    assert "320 out" in lines[5]
    assert "$0.0180" in lines[5]
    assert lines[6].startswith("6 events, 1,170 tokens (850 in / 320 out), $0.0180, 1 tool call")
    only = run("--store", seed, "replay", "0b14d4f8", "--type=tool_called,tool_result").stdout
    assert [line.split()[2] for line in only.splitlines()[:-1]] == ["tool_called", "tool_result"]


def test_state_prints_the_materialized_state_at_any_step(seed: str) -> None:
    now = json.loads(run("--store", seed, "state", "long-run-0001").stdout)
    assert (now["version"], now["tool_calls"], now["errors"]) == (250, 50, 13)
    with agentstore.open(seed) as store:
        expected = store.get_state("long-run-0001", at_seq=120).to_dict()
    assert json.loads(run("--store", seed, "state", "long-run-0001", "--at", "120").stdout) == (
        expected
    )


def test_verify_finds_nothing_wrong_in_the_go_librarys_directory(seed: str) -> None:
    report = run("--store", seed, "verify").stdout
    assert report.strip() == "Checked 3 sessions and 260 events: no problems."


# Every backend


def test_sessions_filters_pages_and_formats(recorded: tuple[str, str]) -> None:
    target, session_id = recorded
    rows = run("sessions", "--store", target, "--label", "agent=travel").stdout.splitlines()
    assert [row.split()[0] for row in rows[1:]] == [session_id]
    page = run("--store", target, "sessions", "--limit", "1", "--offset", "1", "--format", "jsonl")
    assert [json.loads(line)["id"] for line in page.stdout.splitlines()] == [session_id]
    assert page.stderr == ""  # JSON for a pipe carries no hints
    assert "--limit 0 shows all" in run("--store", target, "sessions", "--limit", "1").stderr
    listed = json.loads(run("--store", target, "sessions", "--format", "json").stdout)
    assert [session["name"] for session in listed] == ["other", "flight-search"]
    assert listed[1]["event_count"] == 7


def test_replay_filters_by_type_seq_and_time(recorded: tuple[str, str]) -> None:
    target, session_id = recorded

    def seqs(*options: str) -> list[int]:
        done = run("--store", target, "replay", session_id, "--format", "jsonl", *options)
        return [json.loads(line)["sequence_number"] for line in done.stdout.splitlines()]

    assert seqs() == [1, 2, 3, 4, 5, 6, 7]
    assert seqs("--type", "llm_request,llm_response") == [5, 6]
    assert seqs("--from-seq", "3", "--to-seq", "5") == [3, 4, 5]
    assert seqs("--since", "10m") == [1, 2, 3, 4, 5, 6, 7]
    assert seqs("--until", "1h") == []
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert seqs("--since", later) == []
    assert seqs("--until", later) == [1, 2, 3, 4, 5, 6, 7]


def test_replay_says_when_a_filter_can_match_nothing(recorded: tuple[str, str]) -> None:
    target, session_id = recorded
    replay = ("--store", target, "replay", session_id)
    typo = run(*replay, "--type", "tool_caled", check=1)
    assert "no event type 'tool_caled' in this session (did you mean tool_called?)" in typo.stderr
    assert "its types: error, llm_request, llm_response, plan_created, tool_called" in typo.stderr
    absent = run(*replay, "--type", "state_updated", "--format", "jsonl")
    assert absent.stdout == ""  # a type no event has: an empty answer, and why, on stderr
    assert absent.stderr.startswith("no state_updated events in this session; its types: ")
    inverted = run(*replay, "--from-seq", "5", "--to-seq", "2", check=2)
    assert "--from-seq 5 is after --to-seq 2" in inverted.stderr
    assert run(*replay, "--type", "error", "--format", "jsonl").stderr == ""


def test_replay_timeline_shows_summaries_and_totals(recorded: tuple[str, str]) -> None:
    target, session_id = recorded
    lines = run("--store", target, "replay", session_id).stdout.splitlines()
    assert [line.split()[2] for line in lines[:-1]] == [
        "user_message",
        "plan_created",
        "tool_called",
        "tool_result",
        "llm_request",
        "llm_response",
        "error",
    ]
    assert "“Berlin to Munich, Friday”" in lines[0]
    assert 'search_flights(query="BER → MUC")' in lines[2]
    assert "book_flight: booking timed out" in lines[6]
    assert lines[-1].startswith("7 events, 1,170 tokens (850 in / 320 out), $0.0180, 1 tool call")
    assert "1 error," in lines[-1]


def test_a_unique_prefix_names_a_session_and_flags_go_anywhere(recorded: tuple[str, str]) -> None:
    target, session_id = recorded
    before = run("--store", target, "replay", "--format", "jsonl", session_id[:6]).stdout
    after = run("replay", session_id[:6], "--format", "jsonl", "--store", target).stdout
    assert before == after
    assert len(before.splitlines()) == 7


def test_an_ambiguous_or_unknown_id_is_a_clear_error(target: str) -> None:
    with agentstore.open(target) as store:
        for suffix in ("1", "2"):
            store.create_session(id=f"run-{suffix}")
    ambiguous = run("--store", target, "stats", "run-", check=1)
    assert "'run-' is the start of 2 session ids" in ambiguous.stderr
    assert "run-1" in ambiguous.stderr
    assert "run-2" in ambiguous.stderr
    unknown = run("--store", target, "replay", "nothing-like-it", check=1)
    assert (
        unknown.stderr
        == "Error: no session 'nothing-like-it' in this store (agentstore sessions)\n"
    )


def test_fork_prints_the_new_session_id(recorded: tuple[str, str]) -> None:
    target, session_id = recorded
    fork_id = run("--store", target, "fork", session_id, "--at", "4", "--name", "retry").stdout
    fork_id = fork_id.strip()
    events = json.loads(run("--store", target, "replay", fork_id, "--format", "json").stdout)
    assert [event["sequence_number"] for event in events] == [1, 2, 3, 4]
    with agentstore.open(target) as store:
        fork = store.get_session(fork_id)
    assert (fork.parent_id, fork.forked_at_seq, fork.name) == (session_id, 4, "retry")


def test_state_at_a_step(recorded: tuple[str, str]) -> None:
    target, session_id = recorded
    state = json.loads(run("--store", target, "state", session_id, "--at", "5").stdout)
    assert (state["version"], state["tokens"]["in"], state["tokens"]["out"]) == (5, 850, 0)
    assert state["data"]["plan_created"] == {"steps": ["search_flights", "summarise"]}


def test_stats_per_model_and_per_tool(recorded: tuple[str, str]) -> None:
    target, session_id = recorded
    stats = json.loads(run("--store", target, "stats", session_id, "--format", "json").stdout)
    assert stats["models"]["gpt-4o"] == {
        "requests": 1,
        "responses": 1,
        "tokens_in": 850,
        "tokens_out": 320,
        "cost_usd": 0.018,
        "unpriced": 0,
    }
    assert stats["tools"]["search_flights"] == {
        "calls": 1,
        "results": 1,
        "errors": 0,
        "mean_duration_ms": 1200,
    }
    assert stats["tools"]["book_flight"]["errors"] == 1
    text = run("--store", target, "stats", session_id).stdout
    assert "Tokens:     850 in / 320 out / 1,170 total" in text
    assert "Labels:     agent=travel, env=test" in text


def test_follow_prints_events_another_process_appends(recorded: tuple[str, str]) -> None:
    target, session_id = recorded
    follower = subprocess.Popen(
        [AGENTSTORE, "--store", target, "replay", session_id, "-f", "--format", "jsonl"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert follower.stdout is not None
        stored = [json.loads(follower.stdout.readline()) for _ in range(7)]
        assert [event["sequence_number"] for event in stored] == [1, 2, 3, 4, 5, 6, 7]
        _append_in_another_process(target, session_id, 3)
        new = [json.loads(follower.stdout.readline()) for _ in range(3)]
        assert [event["payload"] for event in new] == [{"step": n} for n in range(3)]
        assert [event["sequence_number"] for event in new] == [8, 9, 10]
    finally:
        follower.send_signal(signal.SIGINT)
        _, errors = follower.communicate(timeout=30)
    assert follower.returncode == 0
    assert "Traceback" not in errors


def _append_in_another_process(target: str, session_id: str, count: int) -> None:
    code = (
        "import sys, agentstore\n"
        "with agentstore.open(sys.argv[1]) as store:\n"
        "    for n in range(int(sys.argv[3])):\n"
        "        store.append(sys.argv[2], agentstore.new_event('custom', {'step': n}))\n"
    )
    subprocess.run([sys.executable, "-c", code, target, session_id, str(count)], check=True)


def test_follow_timeline_ends_at_to_seq(recorded: tuple[str, str]) -> None:
    target, session_id = recorded
    done = run("--store", target, "replay", session_id, "-f", "--to-seq", "2")
    assert [line.split()[0] for line in done.stdout.splitlines()] == ["1", "2"]


def test_verify_passes_a_healthy_store(recorded: tuple[str, str]) -> None:
    target, _ = recorded
    assert run("--store", target, "verify").stdout == (
        "Checked 2 sessions and 7 events: no problems.\n"
    )


def test_bad_input_exits_1_and_usage_errors_exit_2(recorded: tuple[str, str]) -> None:
    target, session_id = recorded
    assert (
        "past the last event"
        in run("--store", target, "state", session_id, "--at", "99", check=1).stderr
    )
    assert (
        "bad event type name"
        in run("--store", target, "replay", session_id, "--type", "Bad!", check=1).stderr
    )
    run("--store", target, "replay", check=2)
    run("--store", target, "replay", session_id, "--since", "yesterday-ish", check=2)
    run("--store", target, "sessions", "--label", "no-equals-sign", check=2)
    run("--store", target, "fork", session_id, check=2)  # --at is required
    run("--store", target, "no-such-command", check=2)
    run("--store", target, "replay", session_id, "-f", "--format", "json", check=2)


# Managing sessions


def test_rm_deletes_each_session_whole(recorded: tuple[str, str]) -> None:
    target, session_id = recorded
    assert run("--store", target, "rm", session_id[:8]).stdout == "Deleted 1 session (7 events).\n"
    listed = json.loads(run("--store", target, "sessions", "--format", "json").stdout)
    assert [session["name"] for session in listed] == ["other"]
    assert "no session" in run("--store", target, "replay", session_id, check=1).stderr
    missing = run("--store", target, "rm", listed[0]["id"], "nothing-like-it", check=1)
    assert "no session 'nothing-like-it'" in missing.stderr
    assert len(json.loads(run("--store", target, "sessions", "--format", "json").stdout)) == 1
    done = json.loads(run("--store", target, "rm", listed[0]["id"], "--format", "json").stdout)
    assert (done["sessions"], done["events"], done["dry_run"]) == (1, 0, False)
    assert [session["name"] for session in done["deleted"]] == ["other"]
    assert run("--store", target, "sessions", "--format", "json").stdout == "[]\n"


def test_rm_asks_first_on_a_terminal(recorded: tuple[str, str]) -> None:
    target, session_id = recorded
    status, shown = _answer_on_terminal(["--store", target, "rm", session_id], "n\n")
    assert status == 1
    assert "Delete 1 session (7 events)? [y/N]" in shown
    assert "flight-search" in shown  # the sessions are shown before the question
    run("--store", target, "stats", session_id)  # still there
    status, shown = _answer_on_terminal(["--store", target, "rm", session_id], "y\n")
    assert status == 0
    assert "Deleted 1 session (7 events)." in shown
    run("--store", target, "stats", session_id, check=1)


def test_label_sets_removes_and_renames(recorded: tuple[str, str]) -> None:
    target, session_id = recorded
    text = run("--store", target, "label", session_id[:8], "reviewed=yes", "env=prod").stdout
    assert text.splitlines()[1:] == [
        "Name:       flight-search",
        "Labels:     agent=travel, env=prod, reviewed=yes",
    ]
    change = ["--remove", "env", "--name", "retried", "--format", "json"]
    session = json.loads(run("--store", target, "label", session_id, *change).stdout)
    assert (session["name"], session["labels"]) == (
        "retried",
        {"agent": "travel", "reviewed": "yes"},
    )
    assert session["event_count"] == 7
    found = run("--store", target, "sessions", "--label", "reviewed=yes", "--format", "jsonl")
    assert [json.loads(line)["id"] for line in found.stdout.splitlines()] == [session_id]
    run("--store", target, "label", session_id, check=2)  # nothing to change
    run("--store", target, "label", session_id, "=value", check=2)
    both = run("--store", target, "label", session_id, "k=v", "--remove", "k", check=1)
    assert both.stderr == "Error: label 'k' is both set and removed\n"
    same = run("--store", target, "label", session_id, "--name", "retried", "--format", "json")
    assert json.loads(same.stdout) == session


def test_prune_deletes_the_sessions_idle_longer_than_asked(
    recorded: tuple[str, str], seed: str
) -> None:
    target, session_id = recorded
    run("--store", seed, "copy", "--to", target)  # the Go library's: a week old, at least
    research = ["--label", "agent=research", "--dry-run"]
    dry = run("--store", target, "prune", "--older-than", "5d", *research).stdout.splitlines()
    assert dry[0].split() == ["ID", "NAME", "EVENTS", "UPDATED", "(UTC)"]
    assert [line.split()[0] for line in dry[1:-1]] == ["long-run-0001"]
    assert dry[-1] == "Would delete 1 session (250 events); nothing was deleted (--dry-run)."
    assert len(json.loads(run("--store", target, "sessions", "--format", "json").stdout)) == 5
    done = run("--store", target, "prune", "--older-than", "5d")
    assert done.stdout == "Deleted 3 sessions (260 events).\n"
    assert done.stderr == ""  # no progress bar in a pipe
    listed = json.loads(run("--store", target, "sessions", "--format", "json").stdout)
    assert sorted(session["name"] for session in listed) == ["flight-search", "other"]
    assert session_id in {session["id"] for session in listed}
    again = json.loads(
        run("--store", target, "prune", "--older-than", "5d", "--format", "json").stdout
    )
    assert (again["sessions"], again["events"], again["deleted"]) == (0, 0, [])
    run("--store", target, "prune", "--older-than", "soon", check=2)
    run("--store", target, "prune", check=2)  # --older-than is required


def test_prune_shows_a_progress_bar_on_a_terminal(seed: str) -> None:
    shown = _on_terminal(["--store", seed, "prune", "--older-than", "1d", "--yes"])
    assert "Deleting" in shown
    assert "3/3" in shown
    assert "Deleted 3 sessions (260 events)." in shown
    assert run("--store", seed, "sessions", "--format", "json").stdout == "[]\n"


def test_sessions_and_stats_show_a_forks_parent_and_fork_point(recorded: tuple[str, str]) -> None:
    target, session_id = recorded
    fork_id = run(
        "--store", target, "fork", session_id, "--at", "4", "--id", "retry"
    ).stdout.strip()
    table = run("--store", target, "sessions").stdout.splitlines()
    assert table[0].split()[-2:] == ["FORK", "OF"]
    assert table[1].startswith("retry")
    assert table[1].endswith(f"{session_id} at seq 4")
    listed = json.loads(run("--store", target, "sessions", "--format", "json").stdout)
    assert (listed[0]["parent_id"], listed[0]["forked_at_seq"]) == (session_id, 4)
    assert listed[0]["updated_at"] >= listed[0]["created_at"]  # its copied events are older
    stats = run("--store", target, "stats", fork_id).stdout.splitlines()
    assert stats[1] == f"Fork of:    {session_id} at seq 4"
    figures = json.loads(run("--store", target, "stats", fork_id, "--format", "json").stdout)
    assert (figures["parent_id"], figures["forked_at_seq"]) == (session_id, 4)
    parent = json.loads(run("--store", target, "stats", session_id, "--format", "json").stdout)
    assert (parent["parent_id"], parent["forked_at_seq"]) == (None, None)
    assert "Fork of" not in run("--store", target, "stats", session_id).stdout


def test_a_forks_parent_from_another_writer_is_shown_escaped(tmp_path: Path) -> None:
    target = str(tmp_path / "data")
    with agentstore.open(target) as store:
        store.create_session(id="forked", labels={"k": "v"})
    path = tmp_path / "data" / "sessions" / "forked.json"
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "parent_id": "p\x1b[2J\nx", "forked_at_seq": 1}))
    for command in (
        ["sessions"],
        ["stats", "forked"],
        ["prune", "--older-than", "0s", "--dry-run"],
    ):
        shown = run("--store", target, *command).stdout
        assert "\x1b" not in shown
        assert "p\\x1b[2J\\nx at seq 1" in shown


def _answer_on_terminal(args: list[str], answer: str) -> tuple[int, str]:
    """Run the command on a terminal (stdin too), type ``answer``; its status and output."""
    main, child = pty.openpty()
    process = subprocess.Popen([AGENTSTORE, *args], stdin=child, stdout=child, stderr=child)
    os.close(child)
    os.write(main, answer.encode())
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the terminal closes when the command ends
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    return process.wait(timeout=30), b"".join(chunks).decode()


# Moving sessions


def test_copy_jsonl_to_sqlite_to_postgres_keeps_every_event(seed: str, tmp_path: Path) -> None:
    targets = [seed, f"sqlite:///{tmp_path / 'copy.db'}"]
    schema_targets = list(_postgres_target()) if POSTGRES_URL else []
    targets += schema_targets[:1]
    for source, destination in itertools.pairwise(targets):
        done = run("--store", source, "copy", "--to", destination)
        assert done.stdout == f"Copied 3 sessions (3 new) and 260 events to {destination}.\n"
        again = run("--store", source, "copy", "--to", destination)
        assert again.stdout == f"Copied 3 sessions (0 new) and 0 events to {destination}.\n"
    with agentstore.open(targets[0]) as first, agentstore.open(targets[-1]) as last:
        for session in first.list_sessions():
            assert last.get_session(session.id) == first.get_session(session.id)
            copied = [event.to_dict() for event in last.get_events(session.id)]
            assert copied == [event.to_dict() for event in first.get_events(session.id)]
    if schema_targets:
        _drop(schema_targets[0])


def _drop(target: str) -> None:
    import psycopg

    schema = target.rsplit("schema=", 1)[1]
    with psycopg.connect(POSTGRES_URL, autocommit=True) as db:
        db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def test_copy_named_sessions_by_prefix(seed: str, tmp_path: Path) -> None:
    destination = str(tmp_path / "archive")
    run("--store", seed, "copy", "--to", destination, "0b14", "long-run")
    listed = json.loads(run("--store", destination, "sessions", "--format", "json").stdout)
    assert sorted(session["id"] for session in listed) == [
        "0b14d4f8-ddae-4e07-8e0d-d925bf835375",
        "long-run-0001",
    ]


# Damage


def test_verify_reports_each_damaged_line_with_file_and_line(seed: str) -> None:
    run("--store", seed, "sessions")  # the first open writes the directory's catalog
    log = Path(seed, "events", "long-run-0001.jsonl")
    lines = log.read_bytes().split(b"\n")
    lines[9] = b'{"session_id": "long-run-0001", "sequence_n'  # line 10: cut short
    lines[99] = lines[99].replace(b'"sequence_number":100', b'"sequence_number":7')
    log.write_bytes(b"\n".join(lines))
    Path(seed, "snapshots", "0b14d4f8-ddae-4e07-8e0d-d925bf835375.json").write_text("{oops")
    before = sorted((path, path.read_bytes()) for path in Path(seed).rglob("*") if path.is_file())
    done = run("--store", seed, "verify", check=1)
    report = done.stdout.splitlines()
    assert f"error: {log}:10: not valid JSON" in report
    assert f"error: {log}:100: duplicate seq: expected 100, found 7" in report
    assert any(
        "0b14d4f8-ddae-4e07-8e0d-d925bf835375.json:1: unreadable snapshot" in line
        for line in report
    )
    assert report[-1] == "Checked 3 sessions and 260 events: 3 errors, 0 warnings."
    after = sorted((path, path.read_bytes()) for path in Path(seed).rglob("*") if path.is_file())
    assert [entry for entry in after if entry[0].suffix != ".lock"] == [
        entry for entry in before if entry[0].suffix != ".lock"
    ]  # verify repairs nothing


def test_verify_warns_of_a_torn_tail_and_passes(seed: str) -> None:
    log = Path(seed, "events", "0b14d4f8-ddae-4e07-8e0d-d925bf835375.jsonl")
    with log.open("ab") as file:
        file.write(b'{"session_id":"0b14d4f8-ddae-4e07-8e0d-d925bf835375","seq')
    done = run("--store", seed, "verify", "--format", "json")
    problems = json.loads(done.stdout)["problems"]
    assert [(p["where"], p["severity"]) for p in problems] == [(f"{log}:7", "warning")]


# Terminal or pipe


def test_piped_output_is_plain_and_a_terminal_gets_colours(recorded: tuple[str, str]) -> None:
    target, session_id = recorded
    piped = run("--store", target, "replay", session_id).stdout
    assert "\x1b[" not in piped
    on_terminal = _on_terminal(["--store", target, "replay", session_id])
    assert "\x1b[" in on_terminal
    assert "booking timed out" in on_terminal
    assert "\x1b[" not in _on_terminal(["--store", target, "replay", session_id], NO_COLOR="1")
    table = _on_terminal(["--store", target, "sessions"], NO_COLOR="1")
    assert "─" in table  # box drawing stays on a terminal, colours off


def _on_terminal(args: list[str], **env: str) -> str:
    main, child = pty.openpty()
    process = subprocess.Popen(
        [AGENTSTORE, *args], stdout=child, stderr=child, env={**os.environ, **env}
    )
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the terminal closes when the command ends
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    assert process.wait(timeout=30) == 0
    return b"".join(chunks).decode()


def test_the_store_comes_from_agentstore_url_or_the_default(
    recorded: tuple[str, str], tmp_path: Path
) -> None:
    target, session_id = recorded
    listed = run("sessions", "--format", "jsonl", AGENTSTORE_URL=target).stdout
    assert session_id in listed
    missing = run("sessions", check=1, AGENTSTORE_URL=str(tmp_path / "missing"))
    assert "no store at" in missing.stderr
    assert not (tmp_path / "missing").exists()  # reading never creates a store


# Help and documentation


def command_names() -> list[str]:
    from agentstore.cli import cli

    return sorted(cli.list_commands(None))  # type: ignore[arg-type]


@pytest.mark.parametrize("command", command_names())
def test_every_command_has_help_with_an_example(command: str) -> None:
    text = run(command, "--help").stdout
    assert text.startswith(f"Usage: agentstore {command}")
    assert f"agentstore {command}" in text.split("Examples:")[1]


def test_every_command_is_documented() -> None:
    documented = Path(__file__).parent.parent.joinpath("docs", "cli.md").read_text("utf-8")
    for command in command_names():
        assert f"## `agentstore {command}" in documented, command


def test_python_dash_m_runs_the_same_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agentstore", "--version"], capture_output=True, text=True
    )
    assert done.stdout == f"agentstore, version {agentstore.__version__}\n"


def test_verify_reports_gaps_and_false_snapshots_in_a_database(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    with agentstore.open(path) as store:
        good = record_session(store, name="good")
        bad = store.create_session(id="bad-run").id
        store.append_batch(bad, [new_event("custom", {"n": n}) for n in range(120)])
        assert store.get_state(bad).version == 120  # saves the snapshot at seq 100
        assert store.backend.read_snapshot(bad) is not None
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM events WHERE session_id = 'bad-run' AND seq = 7")
        db.execute(
            "UPDATE snapshots SET state = json_set(state, '$.event_count', 99) "
            "WHERE session_id = 'bad-run'"
        )
    done = run("--store", str(path), "verify", "--format", "json", check=1)
    problems = [(p["where"], p["reason"]) for p in json.loads(done.stdout)["problems"]]
    assert problems == [
        ("session bad-run seq 8", "expected seq 7"),
        ("session bad-run", "the session counts 120 events; its log holds 119"),
        ("session bad-run snapshot", "the state saved at seq 100 differs from the events' fold"),
    ]
    assert json.loads(done.stdout)["sessions"] == 2
    run("--store", str(path), "verify", good)  # the healthy session alone passes


def test_copy_shows_a_progress_bar_on_a_terminal(seed: str, tmp_path: Path) -> None:
    shown = _on_terminal(["--store", seed, "copy", "--to", str(tmp_path / "copy.db")])
    assert "Copying" in shown
    assert "3/3" in shown
    assert "Copied 3 sessions (3 new) and 260 events" in shown


def test_an_unreachable_database_is_reported_at_once() -> None:
    done = run("--store", "postgresql://postgres@127.0.0.1:1/none", "sessions", check=1)
    assert done.stderr.startswith("Error: PostgreSQL: connection failed")


def test_a_recorded_session_shows_what_each_answer_answers_and_what_nothing_priced(
    tmp_path: Path,
) -> None:
    target = str(tmp_path / "data")
    with agentstore.open(target) as store:
        agent = store.recorder(store.create_session(name="recorded").id)
        with agent.tool_call("search", {"q": "BER"}) as call:
            call.set_result(["LH1234"])
        agent.user_message("between a call and its answer")
        request = agent.llm_request("our-own-model")
        agent.user_message("meanwhile")
        agent.llm_response(request, content="ok", tokens_in=120, tokens_out=8)
        session_id = agent.session_id
    lines = run("--store", target, "replay", session_id).stdout.splitlines()
    assert "↳1 search" in lines[1]
    assert "↳4 our-own-model · 120 in / 8 out · unpriced" in lines[5]
    assert "$0.0000 + 1 unpriced call" in lines[-1]
    stats = run("--store", target, "stats", session_id).stdout
    assert "Cost:       $0.0000 + 1 unpriced call" in stats
    figures = json.loads(run("--store", target, "stats", session_id, "--format", "json").stdout)
    assert figures["tokens"]["unpriced"] == figures["models"]["our-own-model"]["unpriced"] == 1
    # Replaying from the answer on, its call is not shown, so no arrow points at it.
    assert "↳" not in run("--store", target, "replay", session_id, "--from-seq", "6").stdout


# Reading writes nothing: every reading command opens its store read-only.


def _tree(root: Path) -> dict[str, tuple[bytes, int] | None]:
    """Every directory and file under ``root``: each file's bytes and modification time."""
    return {
        str(path.relative_to(root)): None
        if path.is_dir()
        else (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
    }


def test_reading_commands_leave_the_go_librarys_directory_as_it_was(
    seed: str, tmp_path: Path
) -> None:
    before = _tree(Path(seed))
    for command in [
        ["sessions"],
        ["sessions", "--format", "json"],
        ["replay", "0b14"],
        ["replay", "long-run", "--from-seq", "240", "--format", "jsonl"],
        ["replay", "long-run", "-f", "--from-seq", "248", "--to-seq", "249"],
        ["stats", "37db"],
        ["state", "long-run", "--at", "220"],
        ["verify"],
        ["copy", "--to", str(tmp_path / "copy.db"), "0b14"],
        ["prune", "--older-than", "1d", "--dry-run"],  # dry runs only read
        ["repair", "long-run", "--dry-run"],
    ]:
        run("--store", seed, *command)
    assert _tree(Path(seed)) == before
    assert not Path(seed, "catalog.jsonl").exists()
    assert not Path(seed, "tmp").exists()


def _not_a_store(root: Path, kind: str) -> str:
    if kind == "a directory of other files":
        (root / "notes").mkdir()
        (root / "notes" / "todo.txt").write_text("buy milk")
        return str(root / "notes")
    if kind == "an unrelated SQLite database":
        with sqlite3.connect(root / "notes.db") as db:
            db.execute("CREATE TABLE notes (text TEXT)")
        return str(root / "notes.db")
    if kind == "a file that is not a database":
        (root / "text.db").write_text("not a database " * 100)
        return f"sqlite:///{root / 'text.db'}"
    return str(root / "missing")


@pytest.mark.parametrize(
    "kind",
    [
        "a directory of other files",
        "an unrelated SQLite database",
        "a file that is not a database",
        "a missing directory",
    ],
)
def test_commands_on_what_is_not_a_store_fail_and_leave_it_as_it_was(
    tmp_path: Path, kind: str
) -> None:
    target = _not_a_store(tmp_path, kind)
    before = _tree(tmp_path)
    commands = [
        ["sessions"],
        ["replay", "x"],
        ["stats", "x"],
        ["verify"],
        ["fork", "x", "--at", "0"],
    ]
    for command in commands:
        done = run("--store", target, *command, check=1)
        assert done.stderr.startswith("Error: no store at "), done.stderr
    assert _tree(tmp_path) == before


def test_a_mistyped_schema_is_reported_and_not_created() -> None:
    import psycopg

    target = next(_postgres_target())
    schema = target.rsplit("schema=", 1)[1]
    done = run("--store", target, "sessions", check=1)
    assert done.stderr == f"Error: no store at PostgreSQL (schema {schema}): no such schema\n"
    with psycopg.connect(POSTGRES_URL) as db:
        found = db.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchall()
    assert found == []


def test_copy_to_memory_is_refused(seed: str) -> None:
    done = run("--store", seed, "copy", "--to", ":memory:", check=2)
    assert "':memory:' would be discarded" in done.stderr
    assert done.stdout == ""


def test_a_password_in_a_url_is_never_printed(seed: str) -> None:
    done = run("--store", "postgresq://agent:s3cret@db/agents", "sessions", check=1)
    assert "postgresq://agent:***@db/agents" in done.stderr
    if not POSTGRES_URL:
        pytest.skip("set AGENTSTORE_TEST_POSTGRES_URL to copy to PostgreSQL")
    target = next(_postgres_target())
    with_password = target.replace("://postgres@", "://postgres:s3cret@", 1)
    if with_password == target:
        pytest.skip("the test server's URL names no user 'postgres'")
    copied = run("--store", seed, "copy", "--to", with_password, "0b14")
    shown = with_password.replace(":s3cret@", ":***@")
    assert copied.stdout == f"Copied 1 session (1 new) and 6 events to {shown}.\n"
    _drop(target)
