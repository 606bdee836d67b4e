"""The model reads and writes the seed library's JSON; its reducer gives the seed's figures.

The fixture directory was written by the Go library agentstore succeeds; its expected
figures are in ``seed-go-datadir.expected.json``.
"""

from __future__ import annotations

import json
import pickle

import pytest

from agentstore import (
    Event,
    InvalidEventError,
    Metadata,
    Session,
    Snapshot,
    State,
    default_reducer,
)
from agentstore.state import fold

from .seed_figures import DATADIR, EXPECTED, assert_figures


def _events(session_id: str) -> list[Event]:
    lines = (DATADIR / "events" / f"{session_id}.jsonl").read_text(encoding="utf-8").splitlines()
    return [Event.from_dict(json.loads(line)) for line in lines]


def _session(session_id: str) -> Session:
    return Session.from_dict(json.loads((DATADIR / "sessions" / f"{session_id}.json").read_text()))


@pytest.mark.parametrize("session_id", sorted(EXPECTED))
def test_seed_sessions_fold_to_the_expected_figures(session_id: str) -> None:
    session = _session(session_id)
    events = _events(session_id)
    state = fold(default_reducer, State(session_id), events)

    assert_figures(session, events, state)


def test_the_seed_snapshot_continues_to_the_same_state() -> None:
    raw = json.loads((DATADIR / "snapshots" / "long-run-0001.json").read_text())
    snapshot = Snapshot.from_dict(raw)
    events = _events("long-run-0001")
    assert (snapshot.version, snapshot.reducer) == (200, "default")
    assert snapshot.state == fold(default_reducer, State("long-run-0001"), events[:200])
    resumed = fold(default_reducer, snapshot.state, events[200:])
    assert resumed == fold(default_reducer, State("long-run-0001"), events)


def test_seed_events_read_with_their_fields() -> None:
    first, error, custom, updated = _events("37db1a9d-6d14-411d-b1c7-5a9566710a2a")
    assert first.payload == {"content": "Wie spät ist es in 東京?"}
    assert first.metadata == Metadata(worker_id="worker-7")
    assert error.metadata.extra == {"retry": "1"}
    assert (error.metadata.tool_name, error.metadata.duration_ms) == ("clock", 30000)
    assert custom.type == "custom"
    assert custom.payload == {}
    # The seed wrote nanoseconds: the datetime keeps the microseconds, the event all of them.
    assert updated.timestamp.isoformat() == "2026-11-26T04:30:29.246963+00:00"
    assert updated.timestamp_ns == 1795667429_246963226
    assert updated.to_dict()["timestamp"] == "2026-11-26T04:30:29.246963226Z"
    # The seed stored no event ids: a stable one is derived from the position.
    assert [e.id for e in (first, error)] == ["seq-1", "seq-2"]


def test_events_write_the_seed_field_names() -> None:
    (event,) = _events("0b14d4f8-ddae-4e07-8e0d-d925bf835375")[5:]
    written = event.to_dict()
    assert written == {
        "session_id": "0b14d4f8-ddae-4e07-8e0d-d925bf835375",
        "sequence_number": 6,
        "type": "llm_response",
        "payload": {"content": "Two options: LH1234 at €89.50, EW5678 at €64."},
        "timestamp": "2026-11-26T04:30:29.229381462Z",
        "metadata": {"tokens_out": 320, "model": "gpt-4", "duration_ms": 640, "cost_usd": 0.018},
        "id": "seq-6",
    }
    assert Event.from_dict(json.loads(json.dumps(written))) == event


def test_sessions_write_the_seed_field_names() -> None:
    bare = _session("37db1a9d-6d14-411d-b1c7-5a9566710a2a")
    assert (bare.name, dict(bare.labels), bare.parent_id) == ("", {}, None)
    written = bare.to_dict()
    assert written == {
        "id": "37db1a9d-6d14-411d-b1c7-5a9566710a2a",
        "created_at": "2026-11-26T04:30:29.240089Z",
        "updated_at": "2026-11-26T04:30:29.246963Z",
        "event_count": 4,
    }
    assert Session.from_dict(written) == bare


def test_states_and_snapshots_write_the_seed_field_names() -> None:
    raw = json.loads((DATADIR / "snapshots" / "long-run-0001.json").read_text())
    snapshot = Snapshot.from_dict(raw)
    written = snapshot.to_dict()
    assert set(written) == {*raw, "reducer"}
    assert set(written["state"]) == set(raw["state"])
    assert written["state"]["tokens"] == raw["state"]["tokens"]
    assert Snapshot.from_dict(json.loads(json.dumps(written))) == snapshot


def test_metadata_fields_unknown_here_are_kept_read_only_and_checked() -> None:
    written = {"tokens_in": 3, "region": "eu", "trace": {"hops": [1]}}
    metadata = Metadata.from_dict(written)
    assert metadata.tokens_in == 3
    assert metadata.unknown_fields == {"region": "eu", "trace": {"hops": [1]}}
    assert metadata.to_dict() == written
    assert Metadata.from_dict({"unknown_fields": 1}).to_dict() == {"unknown_fields": 1}
    with pytest.raises(TypeError, match="read-only"):
        metadata.unknown_fields["trace"]["hops"].append(2)
    assert pickle.loads(pickle.dumps(metadata)) == metadata  # noqa: S301 - our own bytes
    with pytest.raises(InvalidEventError, match="'tokens_in' is a field of Metadata"):
        Metadata(unknown_fields={"tokens_in": 1})
    with pytest.raises(InvalidEventError, match=r"metadata\['x'\]: nan is not valid JSON"):
        Metadata(unknown_fields={"x": float("nan")})
    with pytest.raises(InvalidEventError, match=r"metadata\.unknown_fields: must be a mapping"):
        Metadata(unknown_fields=["region"])  # type: ignore[arg-type]


def test_an_events_nanoseconds_are_part_of_it() -> None:
    line = {
        "session_id": "s",
        "sequence_number": 1,
        "type": "Step Done",
        "payload": {},
        "timestamp": "2026-01-02T03:04:05.123456789Z",
    }
    event = Event.from_dict(line)
    later = Event.from_dict({**line, "timestamp": "2026-01-02T03:04:05.12345679Z"})
    assert event.timestamp == later.timestamp
    assert (event.timestamp_ns, later.timestamp_ns) == (1767323045_123456789, 1767323045_123456790)
    assert event != later
    assert pickle.loads(pickle.dumps(event)) == event  # noqa: S301 - our own bytes
    assert later.to_dict()["timestamp"] == "2026-01-02T03:04:05.12345679Z"
    with pytest.raises(InvalidEventError, match="event type must be a str"):
        Event.from_dict({**line, "type": 7})
