"""Streaming reads in bounded memory: JSONL pages, the command line's replay, verify.

The conformance suite holds every backend's ``iter_events`` to ``replay``'s answers; these
tests hold what only streaming promises: a JSONL page reads its own lines and not the
log's, a long replay is held a page at a time (by the library, ``agentstore replay`` and
``verify``), and the command line's streamed output is what it printed from a list.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import subprocess
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import agentstore
import agentstore.aio
from agentstore import (
    CorruptLogError,
    EventType,
    InvalidArgumentError,
    Metadata,
    SessionNotFoundError,
    Store,
    new_event,
)
from agentstore.backends.jsonl import JsonlBackend
from agentstore.backends.jsonl.files import Files
from agentstore.cli.render import Output
from agentstore.events import Event
from agentstore.verifying import verify

AGENTSTORE = str(Path(sys.executable).parent / "agentstore")


class _CountingFiles(Files):
    """The file layer, counting the bytes read and the largest single read."""

    def __init__(self, temporary_dir: str) -> None:
        super().__init__(temporary_dir)
        self.bytes_read = 0
        self.largest_read = 0

    def read_at(self, fd: int, offset: int, length: int) -> bytes:
        data = super().read_at(fd, offset, length)
        self.bytes_read += len(data)
        self.largest_read = max(self.largest_read, len(data))
        return data


def _run(count: int) -> list[Event]:
    """``count`` events of an agent run: messages, tool calls and LLM calls with costs."""
    kinds = [
        (EventType.USER_MESSAGE, Metadata()),
        (EventType.TOOL_CALLED, Metadata(tool_name="search")),
        (EventType.TOOL_RESULT, Metadata(tool_name="search", duration_ms=12)),
        (EventType.LLM_RESPONSE, Metadata(model="gpt-4o", tokens_out=20, cost_usd=0.001)),
    ]
    return [
        new_event(
            kinds[n % 4][0],
            {"n": n, "text": f"step {n} " + "x" * (n % 50)},
            metadata=kinds[n % 4][1],
        )
        for n in range(count)
    ]


def _written(target: str | Path, count: int) -> tuple[str, list[Event]]:
    with agentstore.open(target) as store:
        session = store.create_session(name="long")
        stored: list[Event] = []
        run = _run(count)
        for first in range(0, count, 1000):
            stored += store.append_batch(session.id, run[first : first + 1000])
    return session.id, stored


@pytest.fixture
def jsonl_log(tmp_path: Path) -> tuple[Path, str, list[Event]]:
    root = tmp_path / "data"
    session_id, stored = _written(root, 3000)
    return root, session_id, stored


def _fresh(root: Path) -> tuple[Store, _CountingFiles]:
    files = _CountingFiles(str(root / "tmp"))
    return Store(JsonlBackend(root, files=files)), files


# JSONL: a page reads its own lines


def test_a_jsonl_log_is_streamed_reading_each_line_a_bounded_number_of_times(
    jsonl_log: tuple[Path, str, list[Event]],
) -> None:
    root, session_id, stored = jsonl_log
    size = (root / "events" / f"{session_id}.jsonl").stat().st_size
    store, files = _fresh(root)
    with store:
        assert list(store.iter_events(session_id, page_size=100)) == stored
    # Each page is found and parsed once: not the log from its start for every page.
    assert files.bytes_read < 3 * size
    assert files.largest_read < size / 10


def test_a_jsonl_log_is_streamed_from_a_late_seq_counting_lines_once(
    jsonl_log: tuple[Path, str, list[Event]],
) -> None:
    root, session_id, stored = jsonl_log
    size = (root / "events" / f"{session_id}.jsonl").stat().st_size
    store, files = _fresh(root)
    with store:
        assert list(store.iter_events(session_id, from_seq=1500, page_size=100)) == stored[1499:]
        assert list(store.iter_events(session_id, types="never.used", page_size=100)) == []
    assert files.bytes_read < 5 * size


def test_a_stale_cursor_is_checked_and_the_page_read_right(
    jsonl_log: tuple[Path, str, list[Event]],
) -> None:
    root, session_id, stored = jsonl_log
    backend = JsonlBackend(root)
    try:
        page, cursor = backend.read_page(session_id, from_seq=1, to_seq=None, limit=10)
        assert (page, cursor) == (stored[:10], _end_of(root, session_id, 10))
        assert cursor is not None
        # Mid-line, the start of another line, inside the first line, past the end, none.
        for wrong in (cursor - 7, cursor + 1, _end_of(root, session_id, 4), 5, 10**12, None):
            again = backend.read_page(session_id, from_seq=11, to_seq=None, limit=10, cursor=wrong)
            assert again == (stored[10:20], _end_of(root, session_id, 20)), wrong
    finally:
        backend.close()


def _end_of(root: Path, session_id: str, seq: int) -> int:
    """Where the line after ``seq`` begins in the session's log."""
    lines = (root / "events" / f"{session_id}.jsonl").read_bytes().split(b"\n")
    return sum(len(line) + 1 for line in lines[:seq])


@pytest.mark.parametrize("line", [1, 150, 2999])  # the last would be a torn tail
def test_a_damaged_line_stops_the_stream_naming_its_line(
    jsonl_log: tuple[Path, str, list[Event]], line: int
) -> None:
    root, session_id, stored = jsonl_log
    path = root / "events" / f"{session_id}.jsonl"
    lines = path.read_bytes().split(b"\n")
    lines[line - 1] = b"{not json" + b" " * (len(lines[line - 1]) - 9)
    path.write_bytes(b"\n".join(lines))
    store, _ = _fresh(root)
    with store:
        read: list[Event] = []
        with pytest.raises(CorruptLogError) as damaged:
            read.extend(store.iter_events(session_id, page_size=100))
        assert damaged.value.line == line
        assert read == stored[: (line - 1) // 100 * 100]  # the pages before it


def test_a_line_with_the_wrong_seq_stops_the_stream(
    jsonl_log: tuple[Path, str, list[Event]],
) -> None:
    root, session_id, _ = jsonl_log
    path = root / "events" / f"{session_id}.jsonl"
    lines = path.read_bytes().split(b"\n")
    lines[1200] = lines[1199]  # seq 1200 twice, no 1201
    path.write_bytes(b"\n".join(lines))
    for from_seq in (1, 1201):
        store, _ = _fresh(root)
        with store, pytest.raises(CorruptLogError) as damaged:
            list(store.iter_events(session_id, from_seq=from_seq, page_size=100))
        assert damaged.value.line == 1201
        assert "expected 1201, found 1200" in damaged.value.reason


# Bounded memory


def _peak(read: Callable[[], Any]) -> int:
    """The most memory ``read`` held at once (bytes, by tracemalloc)."""
    tracemalloc.start()
    try:
        read()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _drain(events: Iterator[Event]) -> int:
    return sum(1 for _ in events)


@pytest.mark.parametrize("kind", ["jsonl", "sqlite"])
def test_iterating_holds_a_page_where_a_list_holds_the_log(tmp_path: Path, kind: str) -> None:
    target = str(tmp_path / "data") if kind == "jsonl" else f"sqlite:///{tmp_path / 'a.db'}"
    session_id, _ = _written(target, 5000)
    with agentstore.open(target) as store:  # each read by a store that read nothing yet
        listed = _peak(lambda: len(store.get_events(session_id)))
    with agentstore.open(target) as store:
        streamed = _peak(lambda: _drain(store.iter_events(session_id, page_size=100)))
    assert streamed < listed / 8, (streamed, listed)


def test_iterating_a_memory_store_adds_a_page_where_a_list_adds_the_log() -> None:
    with agentstore.open(":memory:") as store:
        session_id = store.create_session().id
        store.append_batch(session_id, _run(5000))
        listed = _peak(lambda: len(store.get_events(session_id)))
        streamed = _peak(lambda: _drain(store.iter_events(session_id, page_size=100)))
    assert streamed < listed / 8, (streamed, listed)


def test_verify_holds_a_page_of_a_database_log(tmp_path: Path) -> None:
    target = f"sqlite:///{tmp_path / 'a.db'}"
    session_id, _ = _written(target, 15_000)
    with agentstore.open(target, snapshot_interval=100) as store:
        store.get_state(session_id)  # a snapshot at 15,000, checked by a fold of every event
    with agentstore.open(target) as store:
        listed = _peak(lambda: len(store.get_events(session_id)))
        report: list[Any] = []
        checked = _peak(lambda: report.append(verify(store)))
    assert report[0].problems == []
    assert report[0].events == 15_000
    assert checked < listed / 3, (checked, listed)  # its ids are kept, not its events


# The command line


@pytest.mark.parametrize(
    "values",
    [
        [],
        [{}],
        [{"a": [], "b": {}, "c": "line\nbreak", "d": [1, {"e": None}]}],
        [{"n": n, "nested": {"list": list(range(n))}} for n in range(2500)],
    ],
    ids=["empty", "one", "nested", "pages"],
)
def test_a_streamed_json_list_is_what_the_whole_list_prints(values: list[Any]) -> None:
    whole, streamed = io.StringIO(), io.StringIO()
    Output(whole).json(values)
    Output(streamed).json_list(iter(values))
    assert streamed.getvalue() == whole.getvalue()


@pytest.mark.parametrize("kind", ["jsonl", "sqlite"])
def test_replay_streams_a_session_longer_than_a_page(tmp_path: Path, kind: str) -> None:
    target = str(tmp_path / "data") if kind == "jsonl" else f"sqlite:///{tmp_path / 'a.db'}"
    session_id, stored = _written(target, 2500)

    def replay(*options: str) -> str:
        done = subprocess.run(
            [AGENTSTORE, "--store", target, "replay", session_id, *options],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return done.stdout

    expected = [event.to_dict() for event in stored]
    assert json.loads(replay("--format", "json")) == json.loads(json.dumps(expected))
    lines = replay("--format", "jsonl").splitlines()
    assert [json.loads(line) for line in lines] == json.loads(json.dumps(expected))
    timeline = replay().splitlines()
    assert len(timeline) == 2501
    assert [line.split()[0] for line in timeline[:-1]] == [str(n) for n in range(1, 2501)]
    columns = [re.match(r" *\d+  \S+  \S+ +", line) for line in timeline[:-1]]
    assert len({column.end() for column in columns if column}) == 1  # aligned across pages
    assert timeline[-1].startswith("2,500 events, 12,500 tokens (0 in / 12,500 out)")
    assert "625 tool calls" in timeline[-1]


# The async face


@pytest.mark.parametrize("kind", ["jsonl", "sqlite", "memory"])
def test_async_for_over_iter_events_on_the_stores_loop(tmp_path: Path, kind: str) -> None:
    target = {"jsonl": str(tmp_path / "data"), "sqlite": f"sqlite:///{tmp_path / 'a.db'}"}
    opened = target.get(kind, ":memory:")

    async def scenario() -> None:
        async with agentstore.aio.open(opened) as store:
            session = await store.create_session()
            stored = await store.append_batch(session.id, _run(250))
            events = store.iter_events(session.id, page_size=20)
            assert [event async for event in events] == stored
            tools = store.iter_events(session.id, types="tool_called", from_seq=100, page_size=7)
            assert [event async for event in tools] == await store.replay(
                session.id, types="tool_called", from_seq=100
            )
            async for event in store.iter_events(session.id, page_size=20):
                if event.seq == 30:
                    break  # left early: nothing is held open
            with pytest.raises(InvalidArgumentError):
                store.iter_events(session.id, page_size=0)
            with pytest.raises(SessionNotFoundError):
                await anext(aiter(store.iter_events("missing")))

    asyncio.run(scenario())
