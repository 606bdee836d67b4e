"""Appending: seqs, times, copies, optimistic concurrency, idempotency and atomic batches."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import pytest

from agentstore import (
    ConcurrencyError,
    EventType,
    InvalidEventError,
    Metadata,
    Session,
    SessionNotFoundError,
    Store,
    new_event,
)
from agentstore.testing.conformance.base import StoreFactory, agent_run, history, record


class AppendScenarios:
    def test_appends_get_gapless_seqs_and_times_that_never_go_back(
        self, store: Store, session: Session
    ) -> None:
        stored = record(store, session.id, 25)
        assert [e.seq for e in stored] == list(range(1, 26))
        assert all(e.session_id == session.id for e in stored)
        times = [e.timestamp for e in stored]
        assert times == sorted(times)
        assert all(t.tzinfo == UTC and t >= session.created_at for t in times)

    def test_the_stored_event_is_returned_and_read_back_equal(
        self, store: Store, session: Session
    ) -> None:
        event = new_event(
            EventType.LLM_RESPONSE,
            {
                "content": "Zwei Optionen für 東京 🛫",
                "scores": [0.1, 2.5e-8, -3],
                "ok": True,
                "none": None,
                "nested": {"deep": [{"x": [1, [2, [3]]]}]},
                "big": 2**62,
            },
            metadata=Metadata(
                worker_id="w-7",
                tokens_in=850,
                tokens_out=320,
                model="gpt-4o",
                tool_name="",
                duration_ms=640,
                cost_usd=0.018,
                extra={"retry": "1"},
            ),
        )
        stored = store.append(session.id, event)
        assert (stored.id, stored.type, stored.payload) == (event.id, event.type, event.payload)
        assert stored.metadata == event.metadata
        assert store.get_events(session.id) == [stored]

    def test_a_missing_payload_is_stored_as_an_empty_object(
        self, store: Store, session: Session
    ) -> None:
        stored = store.append(session.id, new_event(EventType.CUSTOM))
        assert stored.payload == {}
        assert store.get_events(session.id)[0].payload == {}

    def test_payloads_may_be_any_json_value(self, store: Store, session: Session) -> None:
        values = [[1, "two", 3.0], "just text", 42, 2.5, True, {"k": (1, 2)}]
        stored = [store.append(session.id, new_event("value", value)) for value in values]
        expected = [[1, "two", 3.0], "just text", 42, 2.5, True, {"k": [1, 2]}]
        assert [e.payload for e in stored] == expected
        assert [e.payload for e in store.get_events(session.id)] == expected

    def test_changing_the_callers_payload_later_does_not_change_history(
        self, store: Store, session: Session
    ) -> None:
        messages = [{"role": "user", "content": "hi"}]
        payload: dict[str, Any] = {"messages": messages}
        store.append(session.id, new_event(EventType.LLM_REQUEST, payload))
        messages.append({"role": "assistant", "content": "hello"})
        payload["extra"] = True
        (stored,) = store.get_events(session.id)
        assert stored.payload == {"messages": [{"role": "user", "content": "hi"}]}

    def test_events_are_immutable(self, store: Store, session: Session) -> None:
        stored = store.append(session.id, new_event(EventType.USER_MESSAGE, {"content": "hi"}))
        with pytest.raises(AttributeError):
            stored.seq = 99  # type: ignore[misc]
        with pytest.raises(AttributeError):
            stored.metadata.tokens_in = 5  # type: ignore[misc]

    def test_expected_seq_guards_against_a_concurrent_writer(
        self, store: Store, session: Session
    ) -> None:
        record(store, session.id, 2)
        third = store.append(session.id, new_event("step"), expected_seq=2)
        assert third.seq == 3
        with pytest.raises(ConcurrencyError) as raised:
            store.append(session.id, new_event("step"), expected_seq=2)
        assert (raised.value.expected, raised.value.actual) == (2, 3)
        assert store.get_session(session.id).event_count == 3

    def test_a_huge_expected_seq_is_a_concurrency_error(
        self, store: Store, session: Session
    ) -> None:
        with pytest.raises(ConcurrencyError):
            store.append(session.id, new_event("step"), expected_seq=2**40)

    def test_expected_seq_zero_means_the_session_must_be_empty(
        self, store: Store, session: Session
    ) -> None:
        assert store.append(session.id, new_event("first"), expected_seq=0).seq == 1
        with pytest.raises(ConcurrencyError):
            store.append(session.id, new_event("first"), expected_seq=0)

    def test_appending_an_id_again_returns_the_stored_event_and_writes_nothing(
        self, store: Store, session: Session
    ) -> None:
        event = new_event(EventType.TOOL_CALLED, {"tool": "search"}, id="call-1")
        first = store.append(session.id, event)
        record(store, session.id, 2)
        retry = store.append(session.id, new_event(EventType.ERROR, {"other": 1}, id="call-1"))
        assert retry == first
        assert store.get_session(session.id).event_count == 3

    def test_a_retry_with_a_stale_expected_seq_is_still_idempotent(
        self, store: Store, session: Session
    ) -> None:
        event = new_event("step", id="once")
        first = store.append(session.id, event, expected_seq=0)
        assert store.append(session.id, event, expected_seq=0) == first

    def test_the_same_event_id_may_live_in_two_sessions(self, store: Store) -> None:
        one, two = store.create_session(), store.create_session()
        event = new_event("step", {"n": 1}, id="shared-id")
        assert store.append(one.id, event).session_id == one.id
        assert store.append(two.id, event).session_id == two.id
        assert store.get_events(two.id)[0].id == "shared-id"

    def test_one_event_object_may_be_appended_to_several_sessions(self, store: Store) -> None:
        one, two = store.create_session(), store.create_session()
        record(store, two.id, 3)
        event = new_event("step", {"n": 1})
        first, second = store.append(one.id, event), store.append(two.id, event)
        assert (first.session_id, first.seq) == (one.id, 1)
        assert (second.session_id, second.seq) == (two.id, 4)
        assert (event.seq, event.session_id) == (0, "")

    def test_a_batch_gets_consecutive_seqs_and_one_time(
        self, store: Store, session: Session
    ) -> None:
        record(store, session.id, 2)
        stored = store.append_batch(session.id, agent_run())
        assert [e.seq for e in stored] == list(range(3, 13))
        assert len({e.timestamp for e in stored}) == 1
        assert store.get_events(session.id, from_seq=3) == stored

    def test_a_batch_with_one_bad_event_writes_nothing(
        self, store: Store, session: Session
    ) -> None:
        record(store, session.id, 2)
        before = history(store, session.id)
        batch = [*agent_run(), new_event("bad", {"value": float("nan")}), new_event("late")]
        with pytest.raises(InvalidEventError, match=r"events\[10\]\.payload\['value'\]"):
            store.append_batch(session.id, batch)
        assert history(store, session.id) == before

    def test_a_batch_checks_expected_seq_once_for_all(self, store: Store, session: Session) -> None:
        record(store, session.id, 2)
        with pytest.raises(ConcurrencyError):
            store.append_batch(session.id, agent_run(), expected_seq=1)
        assert store.get_session(session.id).event_count == 2
        stored = store.append_batch(session.id, agent_run(), expected_seq=2)
        assert stored[0].seq == 3

    def test_a_retried_batch_returns_what_was_stored(self, store: Store, session: Session) -> None:
        batch = agent_run()
        first = store.append_batch(session.id, batch, expected_seq=0)
        assert store.append_batch(session.id, batch, expected_seq=0) == first
        assert store.get_session(session.id).event_count == len(batch)

    def test_a_batch_appends_only_the_events_the_session_lacks(
        self, store: Store, session: Session
    ) -> None:
        known = store.append(session.id, new_event("step", {"n": 1}, id="known"))
        fresh = new_event("step", {"n": 2}, id="fresh")
        stored = store.append_batch(session.id, [fresh, new_event("x", id="known")])
        assert stored[1] == known
        assert (stored[0].id, stored[0].seq) == ("fresh", 2)
        assert [e.id for e in store.get_events(session.id)] == ["known", "fresh"]

    def test_an_empty_batch_writes_nothing(self, store: Store, session: Session) -> None:
        assert store.append_batch(session.id, []) == []
        with pytest.raises(SessionNotFoundError):
            store.append_batch("missing", [])

    def test_custom_event_types_round_trip(self, store: Store, session: Session) -> None:
        names = ["retrieval", "memory.write", "guardrail:blocked", "a-b_c.d:e"]
        for name in names:
            store.append(session.id, new_event(name, {"name": name}))
        assert [e.type for e in store.get_events(session.id)] == names

    def test_recorded_call_metadata_survives_reopening(self, open_store: StoreFactory) -> None:
        # Two shapes: the readers take one path for the common fields and another when
        # cache tokens or extra are present; both must give back what was written.
        common = Metadata(
            model="gpt-4o", provider="openai", cost_source="genai-prices 0.2.3", cause_id="req-1"
        )
        full = Metadata(
            tokens_in=1200,
            tokens_out=80,
            model="claude-sonnet-4-5",
            provider="anthropic",
            cache_read_tokens=700,
            cache_write_tokens=300,
            cost_usd=0.0042,
            cost_source="genai-prices 0.2.3",
            cause_id="req-2",
            extra={"trace": "t-1"},
        )
        with open_store() as store:
            session = store.create_session()
            for metadata in (common, full):
                store.append(session.id, new_event(EventType.LLM_RESPONSE, metadata=metadata))
        with open_store() as reopened:
            events = reopened.get_events(session.id)
            assert [e.metadata for e in events] == [common, full]
            assert reopened.get_state(session.id).tokens.cache_read == 700

    def test_appends_survive_reopening_and_continue_the_seqs(
        self, open_store: StoreFactory
    ) -> None:
        with open_store() as store:
            session = store.create_session()
            record(store, session.id, 3)
        with open_store() as store:
            assert store.append(session.id, new_event("after")).seq == 4
            assert [e.seq for e in store.get_events(session.id)] == [1, 2, 3, 4]
