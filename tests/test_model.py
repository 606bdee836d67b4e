"""The pure core: events, ids, payload copies and the reducer, without a store."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import uuid
from datetime import UTC, datetime, timedelta, timezone
from functools import reduce
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentstore import (
    Event,
    EventType,
    InvalidEventError,
    Metadata,
    Session,
    State,
    TokenUsage,
    default_reducer,
    new_event,
)
from agentstore.backends.codec import decode_event, metadata_from_record
from agentstore.events import UNSET_TIME, stored_event
from agentstore.frozen import FrozenDict, FrozenList, freeze
from agentstore.ids import new_event_id
from agentstore.payloads import copy_payload, encoded_size
from agentstore.state import fold, snapshot_due
from agentstore.timestamps import from_text, parse, to_text

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def _containers(value: Any) -> list[Any]:
    """Every dict and list in a JSON value, ``value`` first."""
    if isinstance(value, dict):
        return [value, *(c for item in value.values() for c in _containers(item))]
    if isinstance(value, list):
        return [value, *(c for item in value for c in _containers(item))]
    return []


class TestEvents:
    def test_a_new_event_is_unstamped(self) -> None:
        event = new_event(EventType.PLAN_CREATED, {"steps": ["a"]})
        assert (event.seq, event.session_id, event.timestamp) == (0, "", UNSET_TIME)
        assert event.type == "plan_created"
        assert type(event.type) is str  # plain str, equal to the enum member
        assert event.metadata == Metadata()

    def test_event_types_are_strings(self) -> None:
        assert isinstance(EventType.TOOL_CALLED, str)
        assert EventType("tool_called") is EventType.TOOL_CALLED
        assert [t.value for t in EventType] == [
            "user_message",
            "plan_created",
            "tool_called",
            "tool_result",
            "llm_request",
            "llm_response",
            "state_updated",
            "error",
            "custom",
        ]

    def test_events_compare_and_hash_by_content(self) -> None:
        event = new_event("step", {"n": 1}, id="e1")
        same = Event("step", {"n": 1}, id="e1")
        assert event == same
        assert hash(event) == hash(same)
        assert event != new_event("step", {"n": 2}, id="e1")
        assert "id='e1'" in repr(event)

    def test_events_pickle(self) -> None:
        stamped = stored_event(
            "e1", "s", 3, "step", {"n": 1}, datetime.now(UTC), Metadata(model="m")
        )
        assert pickle.loads(pickle.dumps(stamped)) == stamped  # noqa: S301 - our own bytes
        session = Session("s", labels={"k": "v"})
        assert pickle.loads(pickle.dumps(session)) == session  # noqa: S301

    def test_an_event_takes_only_aware_times(self) -> None:
        with pytest.raises(InvalidEventError, match="timezone-aware"):
            Event("x", timestamp=datetime(2026, 1, 1))
        berlin = datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=1)))
        assert Event("x", timestamp=berlin).timestamp == datetime(2026, 1, 1, 11, tzinfo=UTC)

    def test_metadata_rounds_durations_to_milliseconds(self) -> None:
        measured: Any = 12.6  # typed as int; a float measured in ms is accepted and rounded
        assert Metadata(duration_ms=measured).duration_ms == 13
        assert Metadata(cost_usd=1).cost_usd == 1.0

    def test_metadata_extra_is_a_read_only_copy(self) -> None:
        extra = {"retry": "1"}
        metadata = Metadata(extra=extra)
        extra["retry"] = "2"
        assert metadata.extra == {"retry": "1"}
        with pytest.raises(TypeError):
            metadata.extra["x"] = "y"  # type: ignore[index]

    def test_metadata_writes_only_what_is_set(self) -> None:
        assert Metadata().to_dict() == {}
        full = Metadata("w", 1, 2, "m", "t", 3, 0.5, {"k": "v"})
        assert Metadata.from_dict(json.loads(json.dumps(full.to_dict()))) == full

    def test_stored_metadata_is_the_metadata_its_constructor_builds(self) -> None:
        fields: dict[str, Any] = {"worker_id": "w", "tokens_in": 120, "tokens_out": 40}
        fields |= {"model": "m", "duration_ms": 7, "cost_usd": 0.25, "cause_id": "e1"}
        read = metadata_from_record(dict(fields))  # the readers' unchecked path
        built = Metadata(**fields)
        assert type(read) is Metadata
        assert dataclasses.is_dataclass(read)
        assert (read, hash(read), repr(read), read.to_dict()) == (
            built,
            hash(built),
            repr(built),
            built.to_dict(),
        )
        with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field"):
            read.model = "other"  # type: ignore[misc]
        with pytest.raises(dataclasses.FrozenInstanceError, match="cannot delete field"):
            del read.model
        assert pickle.loads(pickle.dumps(read)) == built  # noqa: S301 - our own bytes
        assert dataclasses.replace(read, model="other") == Metadata(**(fields | {"model": "other"}))
        with pytest.raises(InvalidEventError):
            dataclasses.replace(read, tokens_in=-1)

    @pytest.mark.parametrize("name", ["tokens_in", "tokens_out", "duration_ms"])
    def test_stored_counts_beyond_int64_are_refused_as_the_constructor_refuses_them(
        self, name: str
    ) -> None:
        assert getattr(metadata_from_record({name: 2**63 - 1}), name) == 2**63 - 1
        with pytest.raises(ValueError, match="below 2\\*\\*63"):
            metadata_from_record({name: 2**63})
        line = {"session_id": "s", "sequence_number": 1, "type": "step"}
        line |= {"timestamp": "2026-01-01T00:00:00Z", "metadata": {name: 2**64 - 1}}
        with pytest.raises(ValueError, match="below 2\\*\\*63"):
            decode_event(json.dumps(line))


class TestIds:
    def test_event_ids_are_unique_uuids(self) -> None:
        ids = [new_event_id() for _ in range(100_000)]
        assert len(set(ids)) == len(ids)
        parsed = uuid.UUID(ids[0])
        assert (parsed.version, parsed.variant) == (8, uuid.RFC_4122)
        assert str(parsed) == ids[0]

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
    def test_a_forked_process_makes_different_ids(self) -> None:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            os.write(write, new_event_id().encode())
            os._exit(0)
        os.waitpid(pid, 0)
        child_id = os.read(read, 100).decode()
        parent_id = new_event_id()
        assert child_id[:24] != parent_id[:24]


class TestPayloads:
    @given(json_values)
    def test_any_json_value_is_copied_equal(self, value: Any) -> None:
        copied = copy_payload(value)
        expected = {} if value is None else value
        assert copied == expected
        assert json.loads(json.dumps(copied)) == copied

    @given(json_values, st.integers(2, 400))
    def test_a_payload_is_refused_exactly_when_its_encoding_is_over_the_limit(
        self, value: Any, limit: int
    ) -> None:
        # The early refusals work on an estimate of the size: it must never refuse a
        # payload that fits, whatever is left of the limit when a nested value is copied.
        payload = {"value": value}
        size = encoded_size(payload)
        if size <= limit:
            assert copy_payload(payload, limit) == payload
        else:
            with pytest.raises(InvalidEventError, match="limit"):
                copy_payload(payload, limit)

    @given(json_values)
    def test_freezing_copies_every_container_read_only(self, value: Any) -> None:
        frozen = freeze(value)
        assert frozen == value
        assert freeze(frozen) is frozen  # frozen before: kept as it is
        originals = _containers(value)
        for container in _containers(frozen):
            assert type(container) in (FrozenDict, FrozenList)
            assert all(container is not original for original in originals)

    def test_the_copy_is_deep(self) -> None:
        inner = [1, 2]
        value = {"a": {"b": inner}}
        copied = copy_payload(value)
        assert copied["a"]["b"] is not inner
        assert copied["a"] is not value["a"]

    def test_subclasses_of_json_types_become_plain(self) -> None:
        from collections import OrderedDict
        from enum import IntEnum

        class Level(IntEnum):
            HIGH = 2

        copied = copy_payload(OrderedDict(kind=EventType.ERROR, level=Level.HIGH, flag=True))
        assert copied == {"kind": "error", "level": 2, "flag": True}
        assert [type(v) for v in copied.values()] == [str, int, bool]
        assert isinstance(copied, dict)  # a read-only dict: see agentstore.frozen

    def test_the_size_limit_counts_encoded_bytes(self) -> None:
        text = "€" * 1000  # 3 bytes each in UTF-8
        assert encoded_size({"t": text}) == 3000 + 8
        assert copy_payload({"t": text}, 3008) == {"t": text}
        with pytest.raises(InvalidEventError, match="3008 bytes, over the limit of 3007"):
            copy_payload({"t": text}, 3007)

    def test_nesting_up_to_the_limit_is_fine(self) -> None:
        value: Any = 1
        for _ in range(64):
            value = [value]
        assert copy_payload(value) == value
        with pytest.raises(InvalidEventError, match="deeper than 64"):
            copy_payload([value])


def _events(draws: list[tuple[str, int, int, float]]) -> list[Event]:
    start = datetime(2026, 11, 26, tzinfo=UTC)
    return [
        stored_event(
            f"e{seq}",
            "s",
            seq,
            kind,
            {"seq": seq},
            start + timedelta(seconds=seq),
            Metadata(tokens_in=tokens_in, tokens_out=tokens_out, cost_usd=cost),
        )
        for seq, (kind, tokens_in, tokens_out, cost) in enumerate(draws, start=1)
    ]


event_draws = st.lists(
    st.tuples(
        st.sampled_from([*EventType, "custom.kind"]),
        st.integers(0, 10_000),
        st.integers(0, 10_000),
        st.floats(0, 10, allow_nan=False),
    ),
    max_size=60,
)


class TestReducer:
    @given(event_draws)
    def test_the_fast_fold_equals_the_reducer_one_event_at_a_time(
        self, draws: list[tuple[str, int, int, float]]
    ) -> None:
        events = _events(draws)
        one_by_one = reduce(default_reducer, events, State("s"))
        assert fold(default_reducer, State("s"), events) == one_by_one

    @given(event_draws, st.integers(0, 60))
    def test_folding_in_two_parts_equals_folding_at_once(
        self, draws: list[tuple[str, int, int, float]], split: int
    ) -> None:
        events = _events(draws)
        middle = fold(default_reducer, State("s"), events[:split])
        assert fold(default_reducer, middle, events[split:]) == fold(
            default_reducer, State("s"), events
        )

    def test_the_default_reducer_counts_like_the_seed(self) -> None:
        events = _events(
            [
                ("llm_request", 100, 0, 0.0),
                ("llm_response", 5, 50, 0.25),
                ("tool_called", 7, 7, 7.0),
                ("error", 0, 0, 0.0),
                ("error", 0, 0, 0.0),
            ]
        )
        state = fold(default_reducer, State("s"), events)
        assert state.tokens == TokenUsage(105, 50, 0.25)
        assert (state.tool_calls, state.errors, state.version) == (1, 2, 5)
        assert state.data["error"] == {"seq": 5}

    def test_answers_of_unknown_usage_are_counted_apart_from_unpriced_ones(self) -> None:
        start = datetime(2026, 11, 26, tzinfo=UTC)
        answers = [
            Metadata(model="m", tokens_in=10, tokens_out=2),  # tokens, no price: unpriced
            Metadata(model="m", cost_source="unknown"),  # usage not read: unknown
            Metadata(model="m", cost_source="unknown"),
            Metadata(model="m", tokens_in=10, tokens_out=2, cost_usd=0.5, cost_source="caller"),
            Metadata(model="m"),  # nothing said, nothing read: neither
        ]
        events = [
            stored_event(f"e{seq}", "s", seq, "llm_response", {}, start, metadata)
            for seq, metadata in enumerate(answers, start=1)
        ]
        one_by_one = reduce(default_reducer, events, State("s"))
        state = fold(default_reducer, State("s"), events)
        assert state == one_by_one
        assert (state.tokens.unpriced, state.tokens.unknown) == (1, 2)
        assert fold(default_reducer, fold(default_reducer, State("s"), events[:2]), events[2:]) == (
            state
        )

    def test_token_usage_writes_its_unknown_count_only_when_there_is_one(self) -> None:
        usage = TokenUsage(10, 2, 0.5, unpriced=1, unknown=3)
        assert usage.to_dict() == {"in": 10, "out": 2, "cost_usd": 0.5, "unpriced": 1, "unknown": 3}
        assert TokenUsage.from_dict(usage.to_dict()) == usage
        assert "unknown" not in TokenUsage(10, 2).to_dict()
        state = State.from_dict(State("s", tokens=usage).to_dict())
        assert state.tokens.unknown == 3

    def test_snapshots_fall_on_multiples_of_the_interval(self) -> None:
        assert snapshot_due(100, snapshot_version=0, base=0, target=250) == 200
        assert snapshot_due(100, snapshot_version=200, base=200, target=299) is None
        assert snapshot_due(100, snapshot_version=200, base=250, target=300) == 300
        assert snapshot_due(100, snapshot_version=0, base=210, target=299) is None
        assert snapshot_due(0, snapshot_version=0, base=0, target=10_000) is None


class TestTimestamps:
    def test_times_are_written_as_rfc3339_in_utc(self) -> None:
        moment = datetime(2026, 11, 26, 4, 30, 29, 258028, tzinfo=UTC)
        assert to_text(moment) == "2026-11-26T04:30:29.258028Z"
        assert to_text(moment.replace(microsecond=0)) == "2026-11-26T04:30:29Z"
        assert from_text("2026-11-26T04:30:29.25802872Z") == moment
        assert from_text("2026-11-26T05:30:29.258028+01:00") == moment
        with pytest.raises(ValueError, match="no time zone"):
            from_text("2026-11-26T04:30:29")

    @given(
        st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30), timezones=st.just(UTC)),
        st.integers(0, 999),
        st.integers(-12, 12),
    )
    def test_a_time_is_parsed_to_its_datetime_and_the_nanoseconds_beyond(
        self, moment: datetime, nanoseconds: int, hours: int
    ) -> None:
        text = to_text(moment, nanoseconds)  # "...SS[.fraction]Z"
        assert parse(text) == (moment, nanoseconds)
        local = moment.astimezone(timezone(timedelta(hours=hours)))
        offset = local.isoformat(timespec="seconds")
        assert parse(offset[:19] + text[19:-1] + offset[19:]) == (moment, nanoseconds)
