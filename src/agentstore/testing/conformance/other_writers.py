"""Other programs' events: read as they were written, and kept so by copies and forks.

The seed's event type is an open string, and the format grows: a log may hold events that
another program wrote (the Go library, a newer agentstore) with a type ``new_event`` would
refuse, metadata fields this library does not know, and times to the nanosecond. Such an
event is read as it is (refusing it would make its whole session unreadable), folded by
the default reducer like any other type, and every copy, fork and re-serialization keeps
its type, its unknown fields and its nanoseconds exactly.

A backend whose data other programs write directly (a file format, database rows)
overrides the ``write_as_another_program`` fixture (:class:`OtherWriter`) to write there;
by default the events arrive through ``import_events``, the path of a copy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol

import orjson
import pytest

import agentstore
from agentstore import InvalidEventError, Store, copy_sessions, new_event
from agentstore.backends.codec import decode_event
from agentstore.testing.conformance.base import StoreFactory, record
from agentstore.verifying import verify

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class OtherWriter(Protocol):
    """Writes events into the data the store factory opens, as another program would.

    The records are events in the seed's JSON form (``session_id``, ``sequence_number``,
    ``type``, ``payload``, ``timestamp``, ``metadata``, ``id``); they continue the log of
    a session that exists. No store of the factory is open meanwhile.
    """

    def __call__(self, session_id: str, records: Sequence[Mapping[str, Any]], /) -> None: ...


def their_records(session_id: str, *, first_seq: int, after: datetime) -> list[dict[str, Any]]:
    """Three events another program wrote, a second apart after ``after``.

    A type ``new_event`` refuses, one with a space and a non-ASCII character, an
    ``llm_response`` with metadata fields unknown here; times with nanoseconds, one of them
    in another time zone with seven digits.
    """
    one, two, three = (after + timedelta(seconds=n) for n in (1, 2, 3))
    values: list[tuple[str, Any, str, dict[str, Any]]] = [
        ("DeployStarted", {"target": "eu-west"}, _text(one, "789"), {"worker_id": "go-7"}),
        ("deploy step ✓", ["a", 1], _elsewhere(two, "7"), {}),
        (
            "llm_response",
            {"content": "ok"},
            _text(three, "001"),
            {
                "tokens_in": 1200,
                "tokens_out": 80,
                "model": "gpt-4o",
                "cost_usd": 0.0042,
                "region": "eu",
                "trace": {"span": "a1", "sampled": True, "hops": [1, 2]},
            },
        ),
    ]
    return [
        {
            "session_id": session_id,
            "sequence_number": seq,
            "type": kind,
            "payload": payload,
            "timestamp": moment,
            "metadata": metadata,
            "id": f"theirs-{seq}",
        }
        for seq, (kind, payload, moment, metadata) in enumerate(values, start=first_seq)
    ]


def _text(moment: datetime, digits: str) -> str:
    """RFC 3339 in UTC with more digits than microseconds."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + digits + "Z"


def _elsewhere(moment: datetime, digits: str) -> str:
    """RFC 3339 in UTC+1 with more digits than microseconds."""
    local = moment.astimezone(timezone(timedelta(hours=1))).isoformat(timespec="microseconds")
    return local[:-6] + digits + local[-6:]


def nanoseconds_of(text: str) -> int:
    """The nanoseconds since the epoch of a time :func:`their_records` wrote (for writers)."""
    fraction = text.split(".")[1]
    digits = fraction[6 : len(fraction) - (1 if fraction.endswith("Z") else 6)]
    moment = datetime.fromisoformat(text)
    return (moment - _EPOCH) // _MICROSECOND * 1000 + int(digits.ljust(3, "0"))


def as_written(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """What the records read back as (``Event.to_dict``): the times in UTC, to the nanosecond.

    As Go writes them: up to nine digits, trailing zeros cut.
    """
    written = []
    for entry in records:
        nanoseconds = nanoseconds_of(entry["timestamp"])
        fraction = f"{nanoseconds % 1_000_000_000:09d}".rstrip("0")
        moment = _EPOCH + timedelta(seconds=nanoseconds // 1_000_000_000)
        text = f"{moment.isoformat(timespec='seconds')[:-6]}.{fraction}Z"
        written.append({**entry, "timestamp": text})
    return written


def _import_as_copied(open_store: StoreFactory) -> OtherWriter:
    def write(session_id: str, records: Sequence[Mapping[str, Any]]) -> None:
        events = [decode_event(orjson.dumps(entry)) for entry in records]
        with open_store() as store:
            store.backend.import_events(session_id, events)

    return write


def _shared_session(open_store: StoreFactory, write: OtherWriter) -> tuple[str, list[Any]]:
    """A session of two events of ours, then three of another program's."""
    with open_store() as store:
        session = store.create_session(name="shared")
        ours = record(store, session.id, 2)
    theirs = their_records(session.id, first_seq=3, after=ours[-1].timestamp)
    write(session.id, theirs)
    return session.id, theirs


class OtherWriterScenarios:
    @pytest.fixture
    def write_as_another_program(self, open_store: StoreFactory) -> OtherWriter:
        """Override in a backend whose data other programs write (see :class:`OtherWriter`)."""
        return _import_as_copied(open_store)

    def test_another_programs_events_are_read_as_they_were_written(
        self, open_store: StoreFactory, write_as_another_program: OtherWriter
    ) -> None:
        session_id, theirs = _shared_session(open_store, write_as_another_program)
        with open_store() as store:
            events = store.get_events(session_id)
            assert [event.seq for event in events] == [1, 2, 3, 4, 5]
            assert [event.to_dict() for event in events[2:]] == as_written(theirs)
            started, step, answer = events[2:]
            assert (started.type, step.type) == ("DeployStarted", "deploy step ✓")
            assert started.metadata.worker_id == "go-7"
            assert [event.timestamp_ns for event in events[2:]] == [
                nanoseconds_of(entry["timestamp"]) for entry in theirs
            ]
            assert started.timestamp == datetime.fromisoformat(theirs[0]["timestamp"])
            assert (answer.metadata.tokens_in, answer.metadata.model) == (1200, "gpt-4o")
            assert answer.metadata.unknown_fields == {
                "region": "eu",
                "trace": {"span": "a1", "sampled": True, "hops": [1, 2]},
            }
            assert store.get_session(session_id).event_count == 5
            assert store.replay(session_id, types=["llm_response"]) == [answer]
            assert store.replay(session_id, from_seq=4, to_seq=4) == [step]

    def test_a_session_goes_on_after_another_programs_events(
        self, open_store: StoreFactory, write_as_another_program: OtherWriter
    ) -> None:
        session_id, theirs = _shared_session(open_store, write_as_another_program)
        with open_store() as store:
            ours = store.append(session_id, new_event("custom.thing", {"n": 1}))
            assert (ours.seq, ours.type) == (6, "custom.thing")
            assert ours.timestamp >= store.get_events(session_id, 5)[0].timestamp
            with pytest.raises(InvalidEventError, match="bad event type name"):
                new_event("DeployStarted")  # a new event's type still follows the rule
        with open_store() as store:
            events = store.get_events(session_id)
            assert [event.to_dict() for event in events[2:5]] == as_written(theirs)
            assert events[-1] == ours

    def test_the_default_reducer_folds_other_types_and_verify_finds_nothing_wrong(
        self, open_store: StoreFactory, write_as_another_program: OtherWriter
    ) -> None:
        session_id, _ = _shared_session(open_store, write_as_another_program)
        with open_store(snapshot_interval=2) as store:
            state = store.get_state(session_id)
            assert (state.version, state.event_count) == (5, 5)
            assert state.data["DeployStarted"] == {"target": "eu-west"}
            assert state.data["deploy step ✓"] == ["a", 1]
            assert (state.tokens.input, state.tokens.output) == (1200, 80)
            assert state.tokens.cost_usd == pytest.approx(0.0042)
            assert (state.tool_calls, state.errors) == (0, 0)
            assert "deploy step ✓" in store.get_state(session_id, at_seq=4).data
            report = verify(store)
            assert (report.events, report.problems) == (5, [])
        with open_store(snapshot_interval=2) as store:
            assert store.get_state(session_id) == state  # from the snapshot saved at seq 4

    def test_forks_and_copies_keep_them_exactly(
        self, open_store: StoreFactory, write_as_another_program: OtherWriter, tmp_path: Path
    ) -> None:
        session_id, _ = _shared_session(open_store, write_as_another_program)
        # From this store to memory, to a directory, to a SQLite file: each from the last.
        targets: list[str | Path] = [
            ":memory:",
            tmp_path / "copy-jsonl",
            f"sqlite:///{tmp_path / 'copy.db'}",
        ]
        with open_store() as store, ExitStack() as copies:
            original = [event.to_dict() for event in store.get_events(session_id)]
            fork = store.fork(session_id, at_seq=4, name="retry")
            forked = [event.to_dict() for event in store.get_events(fork.id)]
            assert [{**event, "session_id": session_id} for event in forked] == original[:4]
            source = store
            for target in targets:
                copy = copies.enter_context(agentstore.open(target))
                copy_sessions(source, copy, [session_id])
                assert [event.to_dict() for event in copy.get_events(session_id)] == original
                source = copy
        for target in targets[1:]:
            with agentstore.open(target) as copy:  # read back from its own files
                assert [event.to_dict() for event in copy.get_events(session_id)] == original

    def test_a_copy_into_this_store_keeps_them_exactly(self, open_store: StoreFactory) -> None:
        with agentstore.open(":memory:") as elsewhere:
            elsewhere.create_session(id="arrived")
            records = their_records("arrived", first_seq=1, after=datetime(2026, 1, 2, tzinfo=UTC))
            _import_into(elsewhere, "arrived", records)
            with open_store() as store:
                assert copy_sessions(elsewhere, store, ["arrived"]).events == 3
            with open_store() as store:
                copied = [event.to_dict() for event in store.get_events("arrived")]
                assert copied == as_written(records)
                assert store.get_events("arrived") == elsewhere.get_events("arrived")


def _import_into(store: Store, session_id: str, records: Sequence[Mapping[str, Any]]) -> None:
    store.backend.import_events(
        session_id, [decode_event(orjson.dumps(entry)) for entry in records]
    )
