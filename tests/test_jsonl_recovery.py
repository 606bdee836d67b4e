"""Crash recovery and damage in a JSONL directory: torn tails are cut, damage is reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import agentstore
from agentstore import CorruptLogError, Snapshot, State, new_event


def _session_with(root: Path, count: int, **options: object) -> str:
    with agentstore.open(root, **options) as store:  # type: ignore[arg-type]
        session = store.create_session()
        for n in range(count):
            store.append(session.id, new_event("step", {"n": n, "text": "ü" * n}))
    return session.id


def _log(root: Path, session_id: str) -> Path:
    return root / "events" / f"{session_id}.jsonl"


def test_a_torn_last_line_is_cut_at_every_byte(tmp_path: Path) -> None:
    root = tmp_path / "data"
    session_id = _session_with(root, 3)
    whole = _log(root, session_id).read_bytes()
    last_line_start = whole.rstrip(b"\n").rfind(b"\n") + 1
    for cut in range(last_line_start, len(whole)):
        for tail in (b"", b"\x00" * 17):
            _log(root, session_id).write_bytes(whole[:cut] + tail)
            with agentstore.open(root) as store:
                # Reading ignores the torn line; appending cuts it and carries on.
                assert [e.seq for e in store.get_events(session_id)] == [1, 2]
                assert store.append(session_id, new_event("after")).seq == 3
                assert [e.type for e in store.get_events(session_id)] == ["step"] * 2 + ["after"]
            assert _log(root, session_id).read_bytes().startswith(whole[:last_line_start])
            assert _log(root, session_id).read_bytes().endswith(b"\n")


def test_zero_bytes_after_a_complete_log_are_cut(tmp_path: Path) -> None:
    root = tmp_path / "data"
    session_id = _session_with(root, 2)
    with _log(root, session_id).open("ab") as file:
        file.write(b"\x00" * 4096)
    with agentstore.open(root) as store:
        assert store.get_session(session_id).event_count == 2
        assert store.append(session_id, new_event("after")).seq == 3
    assert b"\x00" not in _log(root, session_id).read_bytes()


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda line: b'{"session_id": "not json', "not valid JSON"),
        (lambda line: b"\x00" * len(line), "zero bytes in the middle of the log"),
        (
            lambda line: line.replace(b'"sequence_number":3', b'"sequence_number":2'),
            "duplicate seq",
        ),
        (lambda line: line.replace(b'"sequence_number":3', b'"sequence_number":4'), "missing seq"),
        (
            lambda line: b'{"session_id":"someone-else"' + line[line.find(b",") :],
            "session 'someone-else'",
        ),
        (lambda line: b"[1, 2, 3]", "not a JSON object"),
    ],
)
def test_damage_in_the_middle_is_reported_with_file_and_line(
    tmp_path: Path, damage: object, reason: str
) -> None:
    root = tmp_path / "data"
    session_id = _session_with(root, 5)
    path = _log(root, session_id)
    lines = path.read_bytes().split(b"\n")
    lines[2] = damage(lines[2])  # type: ignore[operator]
    path.write_bytes(b"\n".join(lines))
    with agentstore.open(root) as store:
        for read in (store.get_events, store.replay, store.get_state):
            with pytest.raises(CorruptLogError, match=reason) as raised:
                read(session_id)
            assert (raised.value.path, raised.value.line) == (str(path), 3)
        with pytest.raises(CorruptLogError):
            store.append(session_id, new_event("refused"))
    assert path.read_bytes() == b"\n".join(lines)  # nothing written, nothing cut


def test_an_unreadable_or_wrong_snapshot_is_discarded(tmp_path: Path) -> None:
    root = tmp_path / "data"
    session_id = _session_with(root, 12, snapshot_interval=5)
    with agentstore.open(root, snapshot_interval=5) as store:
        truth = store.get_state(session_id)
    snapshot_path = root / "snapshots" / f"{session_id}.json"
    good = json.loads(snapshot_path.read_text())
    bad_snapshots = [
        b"{ not json",
        json.dumps({**good, "version": 50, "state": {**good["state"], "version": 50}}).encode(),
        json.dumps(
            {**good, "session_id": "other", "state": {**good["state"], "session_id": "other"}}
        ).encode(),
        json.dumps({**good, "reducer": "someone.else"}).encode(),
        json.dumps({**good, "offset": 3}).encode(),  # a wrong offset into the log
    ]
    for content in bad_snapshots:
        snapshot_path.write_bytes(content)
        with agentstore.open(root, snapshot_interval=0) as store:
            assert store.get_state(session_id) == truth
            assert store.get_state(session_id, at_seq=11).version == 11


def test_state_starts_from_the_snapshot_without_reading_earlier_lines(tmp_path: Path) -> None:
    root = tmp_path / "data"
    session_id = _session_with(root, 25, snapshot_interval=10)
    with agentstore.open(root, snapshot_interval=10) as store:
        truth = store.get_state(session_id)
    path = _log(root, session_id)
    lines = path.read_bytes().split(b"\n")
    lines[4] = b"x" * len(lines[4])  # damage before the snapshot at 20: never read
    path.write_bytes(b"\n".join(lines))
    with agentstore.open(root, snapshot_interval=10) as store:
        assert store.get_state(session_id) == truth
        with pytest.raises(CorruptLogError):
            store.get_events(session_id)


def test_a_damaged_session_record_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "data"
    session_id = _session_with(root, 1)
    (root / "sessions" / f"{session_id}.json").write_text("{")
    with agentstore.open(root) as store, pytest.raises(CorruptLogError, match="not a session"):
        store.get_session(session_id)


def test_a_snapshot_records_where_its_next_event_starts(tmp_path: Path) -> None:
    root = tmp_path / "data"
    session_id = _session_with(root, 25, snapshot_interval=10)
    with agentstore.open(root, snapshot_interval=10) as store:
        store.get_state(session_id)
    record = json.loads((root / "snapshots" / f"{session_id}.json").read_text())
    lines = _log(root, session_id).read_bytes().split(b"\n")
    assert record["version"] == 20
    assert record["offset"] == sum(len(line) + 1 for line in lines[:20])
    assert Snapshot.from_dict(record).state == State.from_dict(record["state"])
