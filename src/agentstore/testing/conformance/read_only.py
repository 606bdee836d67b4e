"""Read-only stores: they read what is stored, refuse every write, and change nothing.

A store opened with ``read_only=True`` answers every read as a writable store on the same
data does (sessions, events, replays, state now and at a past step, live feeds of what a
writer appends meanwhile), and every write (a session created, updated or deleted, an
append, a batch, a fork, a snapshot, a copy into it) raises
:class:`~agentstore.ReadOnlyStoreError`. Afterwards the data is as it was: not one file,
row or snapshot more, also when its ``get_state`` folded past a snapshot interval.

A backend whose data can be dumped overrides ``stored_data`` (:class:`StoredData`): a
function returning everything the backend keeps (every file with its bytes, every row),
compared before and after the read-only store was used. Without it, the data is compared
as a writable store sees it: sessions, events and snapshots.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

import pytest

from agentstore import Metadata, ReadOnlyStoreError, Snapshot, Store, copy_sessions, new_event
from agentstore.backends.memory import MemoryBackend
from agentstore.events import Event, stored_event
from agentstore.testing.conformance.base import (
    StoreFactory,
    agent_run,
    history,
    record,
    through,
)


class StoredData(Protocol):
    """Returns everything the data the store factory opens holds, to compare (any value)."""

    def __call__(self) -> object: ...


def _recorded(open_store: StoreFactory) -> tuple[str, str, str]:
    """Two sessions and a fork, written with no snapshot; their ids (parent, other, fork)."""
    with open_store(snapshot_interval=0) as store:
        parent = store.create_session(name="triage", labels={"env": "prod", "agent": "a"})
        store.append_batch(parent.id, agent_run())
        other = store.create_session(name="other", labels={"env": "dev"})
        record(store, other.id, 3)
        fork = store.fork(parent.id, at_seq=4, name="retry")
        store.append(fork.id, new_event("retry.started", {"attempt": 2}))
    return parent.id, other.id, fork.id


def _as_a_writer_sees_it(open_store: StoreFactory) -> object:
    """The data as a writable store reads it: sessions, their events and snapshots."""
    with open_store() as store:
        found = {}
        for session in store.list_sessions(limit=10**6):
            snapshot = store.backend.read_snapshot(session.id)
            kept = snapshot.to_dict() if snapshot is not None else None
            found[session.id] = (session.to_dict(), history(store, session.id), kept)
        return found


class ReadOnlyScenarios:
    @pytest.fixture
    def stored_data(self) -> StoredData | None:
        """Override in a backend whose data can be dumped whole (see :class:`StoredData`)."""
        return None

    @pytest.fixture
    def contents(
        self, open_store: StoreFactory, stored_data: StoredData | None
    ) -> Callable[[], object]:
        """Everything stored, to compare: the dump, or what a writable store reads."""
        if stored_data is not None:
            return stored_data
        return lambda: _as_a_writer_sees_it(open_store)

    def test_a_read_only_store_reads_what_a_writable_one_does(
        self, open_store: StoreFactory
    ) -> None:
        parent, other, fork = _recorded(open_store)
        with open_store() as writer:
            listed = writer.list_sessions()
            expected = {
                session_id: (
                    writer.get_session(session_id),
                    writer.get_events(session_id),
                    writer.get_state(session_id),
                    writer.get_state(session_id, at_seq=3),
                )
                for session_id in (parent, other, fork)
            }
            replayed = writer.replay(parent, types=["tool_called", "error"], from_seq=2)
        with open_store(read_only=True) as reader:
            assert reader.read_only
            assert reader.list_sessions() == listed
            assert [s.id for s in reader.list_sessions(labels={"env": "dev"})] == [other]
            for session_id, (session, events, state, past) in expected.items():
                assert reader.get_session(session_id) == session
                assert reader.get_events(session_id) == events
                assert reader.get_events(session_id, from_seq=3) == events[2:]
                assert reader.get_state(session_id) == state
                assert reader.get_state(session_id, at_seq=3) == past
            assert reader.replay(parent, types=["tool_called", "error"], from_seq=2) == replayed
            assert reader.get_session(fork).parent_id == parent

    def test_every_write_of_a_read_only_store_is_refused_and_changes_nothing(
        self, open_store: StoreFactory, contents: Callable[[], object]
    ) -> None:
        parent, _, _ = _recorded(open_store)
        before = contents()
        with open_store(read_only=True) as reader:
            last = reader.get_session(parent).event_count
            refused: list[Callable[[], object]] = [
                lambda: reader.create_session(name="new"),
                lambda: reader.create_session(id="new-one", exist_ok=True),
                lambda: reader.update_session(parent, name="renamed"),
                lambda: reader.delete_session(parent),
                lambda: reader.append(parent, new_event("step")),
                lambda: reader.append(parent, new_event("step"), expected_seq=last),
                lambda: reader.append_batch(parent, [new_event("a"), new_event("b")]),
                lambda: reader.fork(parent, at_seq=2, id="a-fork"),
                lambda: reader.recorder(parent).user_message("hello"),
                lambda: copy_sessions(_a_store_holding_one_session(), reader),
                lambda: reader.backend.write_snapshot(_snapshot_of(reader, parent)),
                lambda: reader.backend.import_events(parent, _stamped_after(reader, parent)),
            ]
            for write in refused:
                with pytest.raises(ReadOnlyStoreError):
                    write()
            (outcome,) = reader.backend.append_many([(parent, [new_event("step")], None)])
            assert isinstance(outcome, ReadOnlyStoreError)  # each request's error, in its place
            assert reader.get_session(parent).event_count == last  # reads still answer
        assert contents() == before
        with open_store() as writer:  # and a writable store may write as before
            assert writer.append(parent, new_event("step")).seq == last + 1

    def test_a_read_only_store_folds_state_but_saves_no_snapshot(
        self, open_store: StoreFactory, contents: Callable[[], object]
    ) -> None:
        with open_store(snapshot_interval=0) as writer:
            session = writer.create_session()
            record(writer, session.id, 12)
            folded = writer.get_state(session.id)
            past = writer.get_state(session.id, at_seq=7)
        before = contents()
        with open_store(read_only=True, snapshot_interval=5) as reader:
            assert reader.get_state(session.id) == folded
            assert reader.get_state(session.id, at_seq=7) == past
            assert reader.backend.read_snapshot(session.id) is None
        assert contents() == before
        with open_store() as writer:
            assert writer.backend.read_snapshot(session.id) is None

    def test_a_read_only_store_uses_the_snapshots_already_saved(
        self, open_store: StoreFactory
    ) -> None:
        with open_store(snapshot_interval=5) as writer:
            session = writer.create_session()
            record(writer, session.id, 12)
            folded = writer.get_state(session.id)  # saves the snapshot of seq 10
            saved = writer.backend.read_snapshot(session.id)
        assert saved is not None
        assert saved.version == 10
        with open_store(read_only=True, snapshot_interval=5) as reader:
            assert reader.backend.read_snapshot(session.id) == saved
            assert reader.get_state(session.id) == folded

    def test_a_read_only_watch_follows_what_a_writable_store_appends(
        self, open_store: StoreFactory
    ) -> None:
        with open_store() as writer, open_store(read_only=True) as reader:
            session = writer.create_session()
            record(writer, session.id, 2)
            one_session = reader.watch(session.id, timeout=10)
            every_session = reader.watch(timeout=10)
            seen: list[Event] = []
            following = threading.Thread(
                target=lambda: seen.extend(through(one_session, lambda e: e.seq == 6)),
                daemon=True,
            )
            following.start()
            appended = record(writer, session.id, 3)
            later = writer.create_session()
            writer.append(later.id, new_event("step"))
            arrived = [
                (e.session_id, e.seq)
                for e in through(every_session, lambda e: e.session_id == later.id)
            ]
            last = writer.append(session.id, new_event("last"))  # ends the session's watch
            following.join(timeout=30)
            assert [e.seq for e in seen] == [1, 2, 3, 4, 5, 6]
            assert seen[2:] == [*appended, last]
            assert arrived == [(session.id, 3), (session.id, 4), (session.id, 5), (later.id, 1)]


def _a_store_holding_one_session() -> Store:
    source = Store(MemoryBackend())
    session = source.create_session(id="copied", name="from elsewhere")
    source.append(session.id, new_event("step"))
    return source


def _snapshot_of(store: Store, session_id: str) -> Snapshot:
    state = store.get_state(session_id)
    return Snapshot(session_id, state.version, state)


def _stamped_after(store: Store, session_id: str) -> list[Event]:
    """An event as a copy brings it: stamped elsewhere, with the next seq."""
    last = store.get_events(session_id)[-1]
    seq, moment = last.seq + 1, last.timestamp
    return [stored_event(f"copied-{seq}", session_id, seq, "copied", {}, moment, Metadata())]
