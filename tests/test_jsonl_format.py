"""The JSONL backend reads the seed library's data directory and writes what it can read."""

from __future__ import annotations

import json
import os
import shutil
import stat
import threading
from pathlib import Path

import pytest

import agentstore
from agentstore import EventType, Metadata, Store, new_event
from agentstore.backends.codec import decode_event, encode_event
from agentstore.backends.jsonl import JsonlBackend
from agentstore.backends.jsonl.files import Files
from agentstore.reports.text import printable

from .seed_figures import FIXTURES, assert_figures
from .test_cli import run

SEED_EVENT_FIELDS = ["session_id", "sequence_number", "type", "payload", "timestamp", "metadata"]


@pytest.fixture
def seed_dir(tmp_path: Path) -> Path:
    target = tmp_path / "seed"
    shutil.copytree(FIXTURES / "seed-go-datadir", target)
    return target


def test_the_seed_directory_opens_lists_replays_and_materializes(seed_dir: Path) -> None:
    with agentstore.open(seed_dir) as store:
        listed = store.list_sessions()
        assert [s.id for s in listed] == [
            "long-run-0001",
            "37db1a9d-6d14-411d-b1c7-5a9566710a2a",
            "0b14d4f8-ddae-4e07-8e0d-d925bf835375",
        ]
        for session in listed:
            assert_figures(session, store.replay(session.id), store.get_state(session.id))
        assert store.list_sessions(labels={"agent": "research"})[0].id == "long-run-0001"


def test_the_seed_snapshot_is_read_and_agrees_with_the_events(seed_dir: Path) -> None:
    with agentstore.open(seed_dir) as store:
        snapshot = store.backend.read_snapshot("long-run-0001")
        assert snapshot is not None
        # Untagged, it is the seed reducer's: the default reducer (which also counts cache
        # tokens and unpriced answers) folds the events instead, to the same figures.
        assert (snapshot.version, snapshot.reducer) == (200, "default")
        assert store.get_state("long-run-0001", at_seq=200) == snapshot.state


def test_appending_to_a_seed_session_writes_lines_it_can_read(seed_dir: Path) -> None:
    with agentstore.open(seed_dir) as store:
        stored = store.append(
            "0b14d4f8-ddae-4e07-8e0d-d925bf835375",
            new_event(
                EventType.LLM_RESPONSE,
                {"content": "Gebucht: LH1234 → München"},
                metadata=Metadata(model="gpt-4", tokens_out=12, cost_usd=0.001),
            ),
        )
        assert stored.seq == 7
        session = store.create_session(name="ours", labels={"agent": "travel"})
        store.append(session.id, new_event(EventType.USER_MESSAGE, {"content": "hi"}))
    lines = (seed_dir / "events" / "0b14d4f8-ddae-4e07-8e0d-d925bf835375.jsonl").read_text()
    last = json.loads(lines.splitlines()[-1])
    assert list(last)[:6] == SEED_EVENT_FIELDS  # the seed's fields, in its order; id added
    assert last["metadata"] == {"tokens_out": 12, "model": "gpt-4", "cost_usd": 0.001}
    assert last["payload"]["content"] == "Gebucht: LH1234 → München"  # UTF-8, not escaped
    record = json.loads((seed_dir / "sessions" / f"{session.id}.json").read_text())
    assert {"id", "name", "created_at", "updated_at", "event_count", "labels"} <= set(record)
    with agentstore.open(seed_dir) as reopened:
        assert reopened.get_session("0b14d4f8-ddae-4e07-8e0d-d925bf835375").event_count == 7


def test_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    root = tmp_path / "private"
    with agentstore.open(root, snapshot_interval=2) as store:
        session = store.create_session()
        for n in range(3):
            store.append(session.id, new_event("step", {"n": n}))
        store.get_state(session.id)
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"
    names = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert {
        f"sessions/{session.id}.json",
        f"events/{session.id}.jsonl",
        f"snapshots/{session.id}.json",
    } <= names


def test_a_relative_directory_and_the_default_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with agentstore.open() as store:
        store.create_session(id="here")
    assert os.path.isfile(tmp_path / "agent-data" / "sessions" / "here.json")


def test_targets_and_options_that_cannot_be_opened_say_what_can(tmp_path: Path) -> None:
    with pytest.raises(agentstore.InvalidArgumentError, match="a directory path"):
        agentstore.open("redis://localhost/0")
    with pytest.raises(agentstore.InvalidArgumentError, match="bogus"):
        agentstore.open(tmp_path / "data", bogus=1)
    with pytest.raises(agentstore.InvalidArgumentError, match="no option poll_interval"):
        agentstore.open(":memory:", poll_interval=1)


def test_session_records_catch_up_with_the_log_at_each_snapshot(tmp_path: Path) -> None:
    root = tmp_path / "data"
    with agentstore.open(root, snapshot_interval=10) as store:
        session = store.create_session(name="counted")
        for n in range(25):
            store.append(session.id, new_event("step", {"n": n}))
        store.get_state(session.id)
        record = json.loads((root / "sessions" / f"{session.id}.json").read_text())
        assert (record["name"], record["event_count"]) == ("counted", 25)
        assert record["updated_at"] == store.get_events(session.id)[-1].to_dict()["timestamp"]


class _CountingFiles(Files):
    def __init__(self, temporary_dir: str) -> None:
        super().__init__(temporary_dir)
        self.file_reads = 0
        self.syncs = 0

    def read_file(self, path: str) -> bytes | None:
        self.file_reads += 1
        return super().read_file(path)

    def sync(self, fd: int) -> None:
        self.syncs += 1
        super().sync(fd)


def test_listing_reads_the_catalog_not_every_session_file(tmp_path: Path) -> None:
    root = tmp_path / "data"
    with agentstore.open(root) as store:
        for n in range(50):
            store.create_session(name=f"s{n}")
    files = _CountingFiles(str(root / "tmp"))
    with Store(JsonlBackend(root, files=files)) as store:
        assert len(store.list_sessions(limit=10)) == 10
        assert files.file_reads == 1  # the catalog
        store.list_sessions(limit=100)
        assert files.file_reads == 1


def test_threads_appending_to_one_session_share_fsyncs(tmp_path: Path) -> None:
    root = tmp_path / "data"
    files = _CountingFiles(str(root / "tmp"))
    with Store(JsonlBackend(root, files=files)) as store:
        sid = store.create_session().id
        files.syncs = 0

        def write() -> None:
            for n in range(25):
                store.append(sid, new_event("step", {"n": n}))

        threads = [threading.Thread(target=write) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert store.get_session(sid).event_count == 200
        assert files.syncs < 120  # one fsync carried several appends


# Lines of other programs: read as they are, written back as they were.


def test_every_line_the_go_library_wrote_is_written_back_byte_for_byte() -> None:
    for log in sorted((FIXTURES / "seed-go-datadir" / "events").glob("*.jsonl")):
        for line in log.read_bytes().splitlines():
            event = decode_event(line)
            assert encode_event(event) == line[:-1] + b',"id":"seq-%d"}\n' % event.seq


GO_LINE = {
    "session_id": "from-go",
    "sequence_number": 2,
    "type": "Deploy\x1b[2JStarted",
    "payload": {"target": "eu-west"},
    "timestamp": "2026-01-02T04:04:05.1234567+01:00",
    "metadata": {"worker_id": "go-7", "region": "eu", "trace": {"span": "a1"}},
}


def _go_directory(root: Path) -> None:
    """A session of one event of ours, then a line another program wrote."""
    with agentstore.open(root) as store:
        store.create_session(id="from-go")
        store.append("from-go", new_event("step", {"n": 1}))
    with (root / "events" / "from-go.jsonl").open("a", encoding="utf-8") as log:
        log.write(json.dumps(GO_LINE, ensure_ascii=False, separators=(",", ":")) + "\n")


def test_a_copy_writes_another_programs_line_back_with_all_it_said(tmp_path: Path) -> None:
    _go_directory(tmp_path / "data")
    with agentstore.open(tmp_path / "data") as source, agentstore.open(tmp_path / "copy") as copy:
        agentstore.copy_sessions(source, copy)
        theirs = copy.get_events("from-go")[1]
        assert theirs.type == "Deploy\x1b[2JStarted"
        assert theirs.metadata.unknown_fields == {"trace": {"span": "a1"}, "region": "eu"}
        assert theirs.timestamp_ns == 1767323045_123456700
    line = (tmp_path / "copy" / "events" / "from-go.jsonl").read_text().splitlines()[1]
    written = json.loads(line)
    written.pop("more", None)  # the copy wrote the log's events as one batch
    assert written == {
        **GO_LINE,
        "timestamp": "2026-01-02T03:04:05.1234567Z",
        "id": "seq-2",
    }
    assert list(written["metadata"]) == ["worker_id", "region", "trace"]


def test_the_command_line_shows_another_programs_events_and_their_json_exactly(
    tmp_path: Path,
) -> None:
    _go_directory(tmp_path / "data")
    store = ["--store", str(tmp_path / "data")]
    lines = run(*store, "replay", "from-go", "--format", "jsonl").stdout.splitlines()
    assert json.loads(lines[1]) == {
        **GO_LINE,
        "timestamp": "2026-01-02T03:04:05.1234567Z",
        "id": "seq-2",
    }
    timeline = run(*store, "replay", "from-go").stdout
    assert printable("Deploy\x1b[2JStarted") in timeline
    assert "\x1b" not in timeline
    assert run(*store, "verify").returncode == 0


def test_an_event_encoded_whole_is_the_line_an_append_assembles_from_its_parts() -> None:
    from agentstore.backends import codec
    from agentstore.testing.conformance.base import agent_run

    with agentstore.open(":memory:") as store:
        session = store.create_session()
        stored = store.append_batch(session.id, agent_run())
    copied = codec.decode_event(
        b'{"session_id":"s","sequence_number":1,"type":"x.y","payload":null,"timestamp":"2026-01-02T03:04:05.123456789Z","metadata":{"later":1},"id":"e"}'
    )
    for event in [*stored, copied]:
        middle, tail = codec.event_parts(event)
        head = codec.line_head(event.session_id)
        assembled = codec.event_line(head, event.seq, middle, event.timestamp, tail, event._nanos)
        assert codec.encode_event(event) == assembled
