"""Sessions: creating, finding, listing and paging them."""

from __future__ import annotations

from datetime import UTC

import pytest

from agentstore import EventType, SessionExistsError, SessionNotFoundError, Store, new_event
from agentstore.testing.conformance.base import StoreFactory, record


class SessionScenarios:
    def test_a_new_session_is_empty_and_named(self, store: Store) -> None:
        session = store.create_session(name="flight-search", labels={"agent": "travel"})
        assert session.name == "flight-search"
        assert dict(session.labels) == {"agent": "travel"}
        assert session.event_count == 0
        assert session.created_at.tzinfo == UTC
        assert session.updated_at == session.created_at
        assert session.parent_id is None
        assert session.forked_at_seq is None
        assert store.get_session(session.id) == session

    def test_a_session_can_be_given_its_id(self, store: Store) -> None:
        session = store.create_session(id="run-2026-11-26.a_1")
        assert session.id == "run-2026-11-26.a_1"
        assert store.get_session("run-2026-11-26.a_1").id == session.id

    def test_generated_session_ids_differ(self, store: Store) -> None:
        ids = {store.create_session().id for _ in range(20)}
        assert len(ids) == 20

    def test_creating_an_existing_id_fails_and_keeps_the_first(self, store: Store) -> None:
        first = store.create_session(id="dup", name="first")
        record(store, "dup", 2)
        with pytest.raises(SessionExistsError) as raised:
            store.create_session(id="dup", name="second")
        assert raised.value.session_id == "dup"
        again = store.get_session("dup")
        assert (again.name, again.event_count, again.created_at) == ("first", 2, first.created_at)

    def test_an_unknown_session_is_not_found(self, store: Store) -> None:
        with pytest.raises(SessionNotFoundError, match="nope"):
            store.get_session("nope")

    def test_a_session_counts_its_events_and_knows_its_last_time(self, store: Store) -> None:
        session = store.create_session()
        events = record(store, session.id, 3)
        found = store.get_session(session.id)
        assert found.event_count == 3
        assert found.updated_at == events[-1].timestamp
        assert found.created_at == session.created_at

    def test_sessions_are_listed_newest_first(self, store: Store) -> None:
        ids = [store.create_session(name=f"s{n}").id for n in range(5)]
        listed = store.list_sessions()
        assert [s.id for s in listed] == ids[::-1]

    def test_listing_pages_with_limit_and_offset(self, store: Store) -> None:
        ids = [store.create_session().id for _ in range(7)][::-1]
        assert [s.id for s in store.list_sessions(limit=3)] == ids[:3]
        assert [s.id for s in store.list_sessions(limit=3, offset=3)] == ids[3:6]
        assert [s.id for s in store.list_sessions(limit=3, offset=6)] == ids[6:]
        assert store.list_sessions(offset=7) == []
        assert store.list_sessions(limit=0) == []

    def test_label_filters_apply_before_paging(self, store: Store) -> None:
        wanted = []
        for n in range(9):
            labels = {"env": "prod" if n % 3 == 0 else "dev", "agent": "travel"}
            session = store.create_session(labels=labels)
            if labels["env"] == "prod":
                wanted.append(session.id)
        wanted.reverse()
        prod = {"env": "prod"}
        assert [s.id for s in store.list_sessions(labels=prod)] == wanted
        assert [s.id for s in store.list_sessions(labels=prod, limit=2)] == wanted[:2]
        assert [s.id for s in store.list_sessions(labels=prod, limit=2, offset=2)] == wanted[2:]
        both = {"env": "prod", "agent": "travel"}
        assert [s.id for s in store.list_sessions(labels=both)] == wanted
        assert store.list_sessions(labels={"env": "prod", "agent": "other"}) == []

    def test_labels_with_any_characters_filter(self, store: Store) -> None:
        odd = {'q"uote': "1", "back\\slash": "2", "new\nline": "3", "tab\tkey": "é", "$.x": "4"}
        wanted = store.create_session(labels=odd)
        store.create_session(labels={"q": "1"})
        for key, value in odd.items():
            assert [s.id for s in store.list_sessions(labels={key: value})] == [wanted.id]
        assert [s.id for s in store.list_sessions(labels=odd)] == [wanted.id]

    def test_listed_sessions_show_their_event_counts(self, store: Store) -> None:
        session = store.create_session()
        store.append(session.id, new_event(EventType.USER_MESSAGE, {"content": "hi"}))
        (listed,) = store.list_sessions()
        assert listed.event_count == 1

    def test_sessions_and_events_outlive_the_store(self, open_store: StoreFactory) -> None:
        with open_store() as store:
            session = store.create_session(name="durable", labels={"k": "v"})
            events = record(store, session.id, 5)
        with open_store() as reopened:
            found = reopened.get_session(session.id)
            assert (found.name, dict(found.labels), found.event_count) == ("durable", {"k": "v"}, 5)
            assert found.created_at == session.created_at
            assert reopened.get_events(session.id) == events
