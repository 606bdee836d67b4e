"""Reading: events from a seq, and replay filtered by type, time and seq."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from agentstore import EventType, Session, SessionNotFoundError, Store, new_event
from agentstore.testing.conformance.base import agent_run, record


class ReadScenarios:
    def test_get_events_reads_from_a_seq(self, store: Store, session: Session) -> None:
        stored = record(store, session.id, 10)
        assert store.get_events(session.id) == stored
        assert store.get_events(session.id, 0) == stored
        assert store.get_events(session.id, 1) == stored
        assert store.get_events(session.id, 7) == stored[6:]
        assert store.get_events(session.id, 10) == stored[9:]
        assert store.get_events(session.id, 11) == []

    def test_an_empty_session_has_no_events(self, store: Store, session: Session) -> None:
        assert store.get_events(session.id) == []
        assert store.replay(session.id) == []

    def test_replay_returns_the_whole_log_in_order(self, store: Store, session: Session) -> None:
        stored = store.append_batch(session.id, agent_run())
        assert store.replay(session.id) == stored

    def test_replay_filters_by_type(self, store: Store, session: Session) -> None:
        stored = record(store, session.id, 30)
        tools = store.replay(session.id, types=[EventType.TOOL_CALLED, "tool_result"])
        assert tools == [e for e in stored if e.type in ("tool_called", "tool_result")]
        assert len(tools) == 6
        assert store.replay(session.id, types="review.approved") == [
            e for e in stored if e.type == "review.approved"
        ]
        assert store.replay(session.id, types=[]) == []
        assert store.replay(session.id, types=["never.used"]) == []

    def test_replay_filters_by_seq_range_inclusively(self, store: Store, session: Session) -> None:
        stored = record(store, session.id, 12)
        assert store.replay(session.id, from_seq=4, to_seq=8) == stored[3:8]
        assert store.replay(session.id, from_seq=0, to_seq=1) == stored[:1]
        assert store.replay(session.id, from_seq=12) == stored[11:]
        assert store.replay(session.id, to_seq=100) == stored
        assert store.replay(session.id, from_seq=9, to_seq=3) == []

    def test_replay_filters_by_time_range_inclusively(self, store: Store, session: Session) -> None:
        early = record(store, session.id, 3)
        time.sleep(0.005)
        middle = record(store, session.id, 3)
        time.sleep(0.005)
        late = record(store, session.id, 3)
        since, until = middle[0].timestamp, middle[-1].timestamp
        assert store.replay(session.id, since=since, until=until) == middle
        assert store.replay(session.id, since=late[0].timestamp) == late
        assert store.replay(session.id, until=early[-1].timestamp) == early
        assert store.replay(session.id, since=late[-1].timestamp + timedelta(seconds=1)) == []

    def test_replay_combines_its_filters(self, store: Store, session: Session) -> None:
        stored = record(store, session.id, 40)
        got = store.replay(
            session.id,
            types=["error", "llm_response"],
            from_seq=5,
            to_seq=30,
            since=stored[0].timestamp,
        )
        assert got == [e for e in stored[4:30] if e.type in ("error", "llm_response")]

    def test_huge_seq_bounds_mean_no_bound(self, store: Store, session: Session) -> None:
        stored = record(store, session.id, 3)
        assert store.replay(session.id, to_seq=2**64) == stored
        assert store.replay(session.id, from_seq=2**64) == []
        assert store.get_events(session.id, 2**70) == []

    def test_reading_an_unknown_session_fails(self, store: Store) -> None:
        with pytest.raises(SessionNotFoundError):
            store.get_events("missing")
        with pytest.raises(SessionNotFoundError):
            store.replay("missing")
        with pytest.raises(SessionNotFoundError):
            store.replay("missing", from_seq=5, to_seq=1)

    def test_sessions_do_not_see_each_others_events(self, store: Store) -> None:
        one, two = store.create_session(), store.create_session()
        store.append(one.id, new_event("only.one"))
        assert store.get_events(two.id) == []
        assert [e.type for e in store.replay(one.id)] == ["only.one"]
