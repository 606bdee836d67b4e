"""Copies: sessions moved between stores keep everything, resumably and idempotently."""

from __future__ import annotations

import pytest

import agentstore
from agentstore import (
    ConcurrencyError,
    InvalidArgumentError,
    InvalidEventError,
    Store,
    copy_sessions,
    new_event,
)
from agentstore.events import stored_event
from agentstore.testing.conformance.base import record


def _same(one: Store, two: Store) -> None:
    assert [s.to_dict() for s in one.list_sessions()] == [s.to_dict() for s in two.list_sessions()]
    for session in one.list_sessions():
        ours, theirs = one.get_events(session.id), two.get_events(session.id)
        assert [e.to_dict() for e in ours] == [e.to_dict() for e in theirs]
        assert one.get_state(session.id) == two.get_state(session.id)


class CopyScenarios:
    def test_sessions_copy_in_and_out_unchanged(self, store: Store) -> None:
        with agentstore.open(":memory:", snapshot_interval=5) as source:
            parent = source.create_session(name="parent", labels={"env": "prod"})
            record(source, parent.id, 12)
            source.get_state(parent.id)  # a snapshot at 10
            fork = source.fork(parent.id, at_seq=4, name="retry")
            record(source, fork.id, 2)
            source.create_session(id="empty")
            report = copy_sessions(source, store, chunk=5)
            assert (report.sessions, report.created, report.events) == (3, 3, 18)
            _same(source, store)
            copied = store.backend.read_snapshot(parent.id)
            assert copied is not None and copied.version == 10  # noqa: PT018
            with agentstore.open(":memory:") as back:
                copy_sessions(store, back)
                _same(source, back)

    def test_a_copy_resumes_and_copies_nothing_twice(self, store: Store) -> None:
        with agentstore.open(":memory:") as source:
            session = source.create_session()
            record(source, session.id, 7)
            copy_sessions(source, store, [session.id])
            record(source, session.id, 5)
            progress: list[tuple[str, int, int]] = []
            again = copy_sessions(source, store, progress=lambda *step: progress.append(step))
            assert (again.created, again.events) == (0, 5)
            assert progress[-1] == (session.id, 12, 12)
            assert copy_sessions(source, store).events == 0
            _same(source, store)

    def test_a_different_session_of_the_same_id_is_not_overwritten(self, store: Store) -> None:
        with agentstore.open(":memory:") as source:
            source.create_session(id="same")
            record(source, "same", 3)
            store.create_session(id="same")
            record(store, "same", 2)
            with pytest.raises(InvalidArgumentError, match="another session of that id"):
                copy_sessions(source, store)
            assert store.get_session("same").event_count == 2
            store.create_session(id="empty", labels={"env": "dev"})
            source.create_session(id="empty")
            with pytest.raises(InvalidArgumentError, match="another session of that id"):
                copy_sessions(source, store, ["empty"])

    def test_imported_events_must_continue_the_log(self, store: Store) -> None:
        session = store.create_session()
        stored = record(store, session.id, 2)

        def stamped(seq: int, event_id: str) -> agentstore.Event:
            return stored_event(
                event_id, session.id, seq, "copied", {}, stored[-1].timestamp, stored[0].metadata
            )

        with pytest.raises(ConcurrencyError):
            store.backend.import_events(session.id, [stamped(5, "late")])
        with pytest.raises(InvalidEventError, match="already stored"):
            store.backend.import_events(session.id, [stamped(3, stored[0].id)])
        with pytest.raises(InvalidEventError, match="not seq 4"):
            store.backend.import_events(session.id, [stamped(3, "a"), stamped(5, "b")])
        assert store.get_session(session.id).event_count == 2
        store.backend.import_events(session.id, [stamped(3, "a"), stamped(4, "b")])
        assert [e.id for e in store.get_events(session.id, 3)] == ["a", "b"]
        assert store.append(session.id, new_event("after")).seq == 5
