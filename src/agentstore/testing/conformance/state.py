"""State: the default reducer, time travel, the state cache, snapshots and custom reducers."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from agentstore import (
    EventType,
    Metadata,
    Session,
    Snapshot,
    State,
    Store,
    default_reducer,
    new_event,
)
from agentstore.events import Event
from agentstore.state import DEFAULT_REDUCER_NAME
from agentstore.testing.conformance.base import StoreFactory, agent_run, record


def count_user_messages(state: State, event: Event) -> State:
    """A custom reducer: counts user messages in ``data``."""
    if event.type != EventType.USER_MESSAGE:
        return state
    seen = int(state.data.get("user_messages", 0))
    return dataclasses.replace(state, data={"user_messages": seen + 1})


class StateScenarios:
    def test_the_default_reducer_sums_tokens_cost_tools_and_errors(
        self, store: Store, session: Session
    ) -> None:
        stored = store.append_batch(session.id, agent_run())
        state = store.get_state(session.id)
        assert (state.session_id, state.version, state.event_count) == (session.id, 10, 10)
        assert state.last_event_at == stored[-1].timestamp
        # llm_request and llm_response both count, tokens_in included on the response.
        assert (state.tokens.input, state.tokens.output) == (860, 320)
        assert state.tokens.total == 1180
        assert state.tokens.cost_usd == pytest.approx(0.018)
        assert (state.tool_calls, state.errors) == (1, 1)
        assert state.data["plan_created"] == {"steps": ["search_flights", "present_options"]}
        assert state.data["review.approved"] == {"by": "ops"}
        assert set(state.data) == {e.type for e in stored}

    def test_data_holds_the_latest_payload_of_each_type(
        self, store: Store, session: Session
    ) -> None:
        for n in range(3):
            store.append(session.id, new_event(EventType.STATE_UPDATED, {"attempt": n}))
        assert store.get_state(session.id).data == {"state_updated": {"attempt": 2}}

    def test_tokens_on_other_event_types_are_not_counted(
        self, store: Store, session: Session
    ) -> None:
        store.append(session.id, new_event("custom.llm", metadata=Metadata(tokens_in=99)))
        store.append(
            session.id,
            new_event(EventType.TOOL_RESULT, metadata=Metadata(tokens_out=5, cost_usd=1.0)),
        )
        state = store.get_state(session.id)
        assert (state.tokens.input, state.tokens.output, state.tokens.cost_usd) == (0, 0, 0.0)

    def test_an_empty_session_has_an_empty_state(self, store: Store, session: Session) -> None:
        state = store.get_state(session.id)
        assert state == State(session.id)
        assert state.last_event_at is None

    def test_state_follows_new_appends(self, store: Store, session: Session) -> None:
        record(store, session.id, 5)
        assert store.get_state(session.id).version == 5
        record(store, session.id, 4)
        state = store.get_state(session.id)
        assert (state.version, state.event_count) == (9, 9)
        assert state == _fold(store.get_events(session.id))

    def test_reading_state_after_appends_folds_only_the_new_events(
        self, open_store: StoreFactory
    ) -> None:
        folded: list[int] = []

        def counting(state: State, event: Event) -> State:
            folded.append(event.seq)
            return default_reducer(state, event)

        with open_store(reducer=counting, snapshot_interval=0) as store:
            session = store.create_session()
            record(store, session.id, 10)
            store.get_state(session.id)
            assert folded == list(range(1, 11))
            record(store, session.id, 2)
            assert store.get_state(session.id).version == 12
            assert store.get_state(session.id).version == 12
            assert folded == list(range(1, 13))

    def test_time_travel_gives_the_state_after_any_seq(
        self, store: Store, session: Session
    ) -> None:
        stored = record(store, session.id, 23)
        store.get_state(session.id)  # a cached latest state must not leak into the past
        for seq in range(24):
            assert store.get_state(session.id, at_seq=seq) == _fold(stored[:seq], session.id)

    def test_snapshots_are_taken_every_interval(self, open_store: StoreFactory) -> None:
        with open_store(snapshot_interval=10) as store:
            session = store.create_session()
            record(store, session.id, 25)
            state = store.get_state(session.id)
            snapshot = store.backend.read_snapshot(session.id)
            assert snapshot is not None
            assert (snapshot.version, snapshot.reducer) == (20, DEFAULT_REDUCER_NAME)
            assert snapshot.state == _fold(store.get_events(session.id, 0)[:20], session.id)
            record(store, session.id, 10)
            assert store.get_state(session.id).version == 35
            newer = store.backend.read_snapshot(session.id)
            assert newer is not None
            assert newer.version == 30
        with open_store(snapshot_interval=10) as reopened:
            assert reopened.get_state(session.id, at_seq=25) == state

    def test_no_snapshots_with_interval_zero(self, open_store: StoreFactory) -> None:
        with open_store(snapshot_interval=0) as unsnapshotted:
            session = unsnapshotted.create_session()
            record(unsnapshotted, session.id, 30)
            assert unsnapshotted.get_state(session.id).version == 30
            assert unsnapshotted.backend.read_snapshot(session.id) is None

    def test_state_from_a_snapshot_equals_a_full_fold(self, open_store: StoreFactory) -> None:
        with open_store(snapshot_interval=7) as store:
            session = store.create_session()
            stored = record(store, session.id, 50)
            store.get_state(session.id)
        with open_store(snapshot_interval=7) as reopened:
            assert reopened.get_state(session.id) == _fold(stored, session.id)
            for seq in (0, 6, 7, 8, 49, 50):
                assert reopened.get_state(session.id, at_seq=seq) == _fold(stored[:seq], session.id)

    def test_a_custom_reducer_derives_its_own_state(self, open_store: StoreFactory) -> None:
        with open_store(reducer=count_user_messages, snapshot_interval=5) as store:
            session = store.create_session()
            record(store, session.id, 30)  # 3 user messages
            state = store.get_state(session.id)
            assert state.data == {"user_messages": 3}
            assert (state.version, state.event_count, state.session_id) == (30, 30, session.id)
            snapshot = store.backend.read_snapshot(session.id)
            assert snapshot is not None
            assert snapshot.reducer.endswith("count_user_messages")
            assert store.get_state(session.id, at_seq=11).data == {"user_messages": 2}

    def test_a_snapshot_of_another_reducer_is_never_mixed_in(
        self, open_store: StoreFactory
    ) -> None:
        with open_store(snapshot_interval=5) as store:
            session = store.create_session()
            stored = record(store, session.id, 12)
            store.get_state(session.id)  # default-reducer snapshot at 10
        with open_store(reducer=count_user_messages, snapshot_interval=5) as custom:
            assert custom.get_state(session.id).data == {"user_messages": 2}
        with open_store(snapshot_interval=5) as default:
            assert default.get_state(session.id) == _fold(stored, session.id)

    def test_a_snapshot_of_another_reducer_is_ignored(self, store: Store, session: Session) -> None:
        stored = record(store, session.id, 10)
        bogus = State(session.id, version=8, data={"bogus": True}, event_count=8)
        store.backend.write_snapshot(Snapshot(session.id, 8, bogus, reducer="someone.else"))
        assert store.get_state(session.id) == _fold(stored, session.id)

    def test_a_snapshot_ahead_of_the_log_is_ignored(self, open_store: StoreFactory) -> None:
        with open_store() as store:
            session = store.create_session()
            stored = record(store, session.id, 10)
            ahead = State(session.id, version=50, data={"bogus": True}, event_count=50)
            store.backend.write_snapshot(Snapshot(session.id, 50, ahead))
        with open_store() as reopened:
            assert reopened.get_state(session.id) == _fold(stored, session.id)
            assert reopened.get_state(session.id, at_seq=5) == _fold(stored[:5], session.id)

    def test_state_is_plain_json(self, store: Store, session: Session) -> None:
        store.append_batch(session.id, agent_run())
        as_json: dict[str, Any] = store.get_state(session.id).to_dict()
        assert as_json["tokens"] == {"in": 860, "out": 320, "cost_usd": 0.018}
        assert State.from_dict(as_json) == store.get_state(session.id)


def _fold(events: list[Event], session_id: str | None = None) -> State:
    state = State(session_id or events[0].session_id)
    for event in events:
        state = default_reducer(state, event)
    return state
