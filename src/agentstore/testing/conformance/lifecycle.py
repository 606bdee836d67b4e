"""A session's life: get or create, rename and relabel, list all, delete whole.

A deleted session is gone for every store on the data (its record, events and snapshot);
what another store had read of it is not trusted after. Forks are copies and outlive
their parent. Bad input changes nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from agentstore import (
    Event,
    InvalidArgumentError,
    InvalidSessionIdError,
    ReadOnlyStoreError,
    SessionExistsError,
    SessionNotFoundError,
    Store,
    new_event,
)
from agentstore.testing.conformance.base import StoreFactory, history, record, through


def _at_once(count: int, action: Callable[[int], Any]) -> list[Any]:
    """Run ``action(n)`` in ``count`` threads started together; their results, in order."""
    results: list[Any] = [None] * count
    start = threading.Barrier(count)

    def run(n: int) -> None:
        start.wait()
        try:
            results[n] = action(n)
        except Exception as error:  # noqa: BLE001 - compared by the test
            results[n] = error

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


class GetOrCreateScenarios:
    def test_exist_ok_returns_the_existing_session_unchanged(self, store: Store) -> None:
        first = store.create_session(id="run-1", name="first", labels={"env": "dev"})
        record(store, "run-1", 2)
        again = store.create_session(
            id="run-1", name="second", labels={"env": "prod"}, exist_ok=True
        )
        assert (again.id, again.name, dict(again.labels)) == ("run-1", "first", {"env": "dev"})
        assert (again.created_at, again.event_count) == (first.created_at, 2)
        assert again == store.get_session("run-1")
        assert [s.id for s in store.list_sessions()] == ["run-1"]

    def test_exist_ok_creates_a_session_that_is_not_there(self, store: Store) -> None:
        created = store.create_session(id="run-2", name="new", labels={"k": "v"}, exist_ok=True)
        assert (created.name, dict(created.labels), created.event_count) == ("new", {"k": "v"}, 0)
        assert store.create_session(id="run-2", exist_ok=True) == created

    def test_without_exist_ok_an_existing_id_still_fails(self, store: Store) -> None:
        store.create_session(id="taken", exist_ok=True)
        with pytest.raises(SessionExistsError):
            store.create_session(id="taken")

    def test_exist_ok_checks_its_arguments_first(self, store: Store) -> None:
        store.create_session(id="checked", name="kept")
        with pytest.raises(InvalidArgumentError):
            store.create_session(id="checked", name=7, exist_ok=True)  # type: ignore[arg-type]
        with pytest.raises(InvalidSessionIdError):
            store.create_session(id="../x", exist_ok=True)
        assert store.get_session("checked").name == "kept"

    def test_threads_getting_or_creating_one_id_get_one_session(self, store: Store) -> None:
        found = _at_once(
            8, lambda n: store.create_session(id="shared", name=f"t{n}", exist_ok=True)
        )
        assert all(not isinstance(session, Exception) for session in found), found
        assert len({(s.id, s.name, s.created_at) for s in found}) == 1
        assert [s.id for s in store.list_sessions()] == ["shared"]


class UpdateScenarios:
    def test_a_session_is_renamed_and_keeps_its_labels(self, store: Store) -> None:
        session = store.create_session(name="draft", labels={"env": "dev"})
        events = record(store, session.id, 3)
        renamed = store.update_session(session.id, name="triage")
        assert (renamed.name, dict(renamed.labels)) == ("triage", {"env": "dev"})
        assert (renamed.event_count, renamed.updated_at) == (3, events[-1].timestamp)
        assert (renamed.created_at, renamed.id) == (session.created_at, session.id)
        assert store.get_session(session.id) == renamed
        assert history(store, session.id) == [event.to_dict() for event in events]

    def test_labels_given_are_set_and_others_stay(self, store: Store) -> None:
        session = store.create_session(labels={"env": "dev", "team": "search"})
        updated = store.update_session(session.id, labels={"env": "prod", "tier": "1"})
        assert dict(updated.labels) == {"env": "prod", "team": "search", "tier": "1"}
        assert updated.name == session.name

    def test_labels_are_removed_by_key(self, store: Store) -> None:
        session = store.create_session(labels={"env": "dev", "team": "search", "x": "y"})
        updated = store.update_session(
            session.id, labels={"env": "prod"}, remove_labels=["team", "absent"]
        )
        assert dict(updated.labels) == {"env": "prod", "x": "y"}
        cleared = store.update_session(session.id, remove_labels=("env", "x"))
        assert dict(cleared.labels) == {}
        assert dict(store.get_session(session.id).labels) == {}

    def test_label_filters_see_the_new_labels(self, store: Store) -> None:
        one = store.create_session(labels={"state": "open"})
        two = store.create_session(labels={"state": "open"})
        store.update_session(one.id, labels={"state": "closed"})
        assert [s.id for s in store.list_sessions(labels={"state": "open"})] == [two.id]
        assert [s.id for s in store.list_sessions(labels={"state": "closed"})] == [one.id]

    def test_nothing_to_change_returns_the_session(self, store: Store) -> None:
        session = store.create_session(name="same", labels={"k": "v"})
        assert store.update_session(session.id) == session
        assert store.update_session(session.id, name="same", labels={"k": "v"}) == session

    def test_changes_outlive_the_store(self, open_store: StoreFactory) -> None:
        with open_store() as store:
            session = store.create_session(name="before", labels={"a": "1", "b": "2"})
            store.update_session(session.id, name="after", labels={"c": "3"}, remove_labels=["a"])
        with open_store() as reopened:
            found = reopened.get_session(session.id)
            assert (found.name, dict(found.labels)) == ("after", {"b": "2", "c": "3"})
            (listed,) = reopened.list_sessions(labels={"c": "3"})
            assert listed == found

    def test_bad_changes_raise_and_change_nothing(self, store: Store) -> None:
        session = store.create_session(name="kept", labels={"k": "v"})
        bad: list[dict[str, Any]] = [
            {"name": 3},
            {"name": "x" * 1000},
            {"labels": {"k": 1}},
            {"labels": "k=v"},
            {"labels": {"": "v"}},
            {"remove_labels": "k"},  # a str is not a list of keys
            {"remove_labels": [1]},
            {"remove_labels": [["k"]]},
            {"labels": {"k": "w"}, "remove_labels": ["k"]},  # set and removed: which?
            {"name": "ok", "labels": {"bad\x00key": "v"}},
        ]
        for arguments in bad:
            with pytest.raises(InvalidArgumentError):
                store.update_session(session.id, **arguments)
        assert store.get_session(session.id) == session

    def test_updating_an_unknown_or_invalid_session_fails(self, store: Store) -> None:
        with pytest.raises(SessionNotFoundError):
            store.update_session("missing", name="x")
        with pytest.raises(InvalidSessionIdError):
            store.update_session("../etc", name="x")
        assert store.list_sessions() == []

    def test_concurrent_changes_of_different_labels_all_hold(self, store: Store) -> None:
        session = store.create_session()
        _at_once(8, lambda n: store.update_session(session.id, labels={f"k{n}": str(n)}))
        assert dict(store.get_session(session.id).labels) == {f"k{n}": str(n) for n in range(8)}

    def test_another_store_sees_the_change(self, open_store: StoreFactory) -> None:
        with open_store() as one, open_store() as two:
            session = one.create_session(name="old", labels={"env": "dev"})
            assert two.get_session(session.id).name == "old"  # read, and known, by two
            assert [s.name for s in two.list_sessions()] == ["old"]
            one.update_session(session.id, name="new", labels={"env": "prod"})
            found = two.get_session(session.id)
            assert (found.name, dict(found.labels)) == ("new", {"env": "prod"})
            assert [s.id for s in two.list_sessions(labels={"env": "prod"})] == [session.id]


class DeleteScenarios:
    def test_a_deleted_session_is_gone_with_its_events(self, store: Store) -> None:
        kept = store.create_session(name="kept")
        kept_events = record(store, kept.id, 2)
        session = store.create_session(name="doomed", labels={"env": "dev"})
        record(store, session.id, 4)
        deleted = store.delete_session(session.id)
        assert (deleted.id, deleted.name, deleted.event_count) == (session.id, "doomed", 4)
        assert [s.id for s in store.list_sessions()] == [kept.id]
        assert store.list_sessions(labels={"env": "dev"}) == []
        for read in (
            lambda: store.get_session(session.id),
            lambda: store.get_events(session.id),
            lambda: store.replay(session.id),
            lambda: store.get_state(session.id),
            lambda: store.get_state(session.id, at_seq=1),
            lambda: store.append(session.id, new_event("late")),
            lambda: store.append_batch(session.id, [new_event("late")]),
            lambda: store.fork(session.id, at_seq=1),
            lambda: store.update_session(session.id, name="back"),
            lambda: store.delete_session(session.id),
        ):
            with pytest.raises(SessionNotFoundError):
                read()
        assert history(store, kept.id) == [event.to_dict() for event in kept_events]

    def test_deleting_an_unknown_or_invalid_session_fails(self, store: Store) -> None:
        store.create_session(id="present")
        with pytest.raises(SessionNotFoundError):
            store.delete_session("absent")
        with pytest.raises(InvalidSessionIdError):
            store.delete_session("../present")
        assert [s.id for s in store.list_sessions()] == ["present"]

    def test_an_id_deleted_and_created_again_starts_empty(self, open_store: StoreFactory) -> None:
        with open_store(snapshot_interval=2) as store:
            store.create_session(id="reused", name="first", labels={"v": "1"})
            record(store, "reused", 5)
            assert store.get_state("reused").version == 5  # snapshots saved on the way
            store.delete_session("reused")
            again = store.create_session(id="reused", name="second")
            assert (again.name, dict(again.labels), again.event_count) == ("second", {}, 0)
            assert store.get_events("reused") == []
            state = store.get_state("reused")
            assert (state.version, state.event_count, dict(state.data)) == (0, 0, {})
            fresh = store.append("reused", new_event("fresh", {"n": 1}))
            assert fresh.seq == 1
        with open_store(snapshot_interval=2) as reopened:
            assert reopened.get_state("reused").version == 1
            assert [e.type for e in reopened.get_events("reused")] == ["fresh"]

    def test_forks_outlive_their_deleted_parent(self, store: Store) -> None:
        parent = store.create_session(name="parent")
        stored = record(store, parent.id, 5)
        fork = store.fork(parent.id, at_seq=3)
        store.delete_session(parent.id)
        found = store.get_session(fork.id)
        assert (found.parent_id, found.forked_at_seq, found.event_count) == (parent.id, 3, 3)
        assert [e.id for e in store.get_events(fork.id)] == [e.id for e in stored[:3]]
        assert store.get_state(fork.id).version == 3
        assert store.append(fork.id, new_event("retry")).seq == 4

    def test_deleting_a_fork_leaves_its_parent(self, store: Store) -> None:
        parent = store.create_session()
        stored = record(store, parent.id, 4)
        fork = store.fork(parent.id, at_seq=2)
        assert store.delete_session(fork.id).event_count == 2
        assert history(store, parent.id) == [event.to_dict() for event in stored]

    def test_a_watch_of_a_deleted_session_ends(self, store: Store) -> None:
        session = store.create_session()
        record(store, session.id, 2)
        seen: list[Event] = []
        feed = store.watch(session.id)  # no timeout: only the deletion ends it
        reader = threading.Thread(target=lambda: seen.extend(feed), daemon=True)
        reader.start()
        time.sleep(0.1)
        store.delete_session(session.id)
        reader.join(timeout=10)
        assert not reader.is_alive()
        assert [e.seq for e in seen] == [1, 2]

    def test_a_watch_of_all_sessions_goes_on_after_a_deletion(self, store: Store) -> None:
        doomed, other = store.create_session(), store.create_session()
        feed = store.watch(timeout=10)
        record(store, doomed.id, 1)
        store.delete_session(doomed.id)
        record(store, other.id, 1)
        # The deleted one's event, if it came in time, then the other's.
        seen = [e.session_id for e in through(feed, lambda e: e.session_id == other.id)]
        assert seen[-1] == other.id
        assert set(seen) <= {doomed.id, other.id}

    def test_another_store_sees_the_deletion(self, open_store: StoreFactory) -> None:
        with open_store() as one, open_store() as two:
            session = one.create_session(name="shared")
            record(one, session.id, 3)
            assert two.get_state(session.id).version == 3  # read, and cached, by two
            assert [s.id for s in two.list_sessions()] == [session.id]
            one.delete_session(session.id)
            assert two.list_sessions() == []
            with pytest.raises(SessionNotFoundError):
                two.get_session(session.id)
            with pytest.raises(SessionNotFoundError):
                two.get_events(session.id)
            with pytest.raises(SessionNotFoundError):
                two.append(session.id, new_event("late"))
            with pytest.raises(SessionNotFoundError):
                two.get_state(session.id)
            one.create_session(id=session.id, name="again")
            found = two.get_session(session.id)
            assert (found.name, found.event_count) == ("again", 0)
            assert two.append(session.id, new_event("first")).seq == 1
            assert [e.type for e in one.get_events(session.id)] == ["first"]

    def test_appends_racing_a_deletion_are_deleted_or_refused(self, store: Store) -> None:
        session = store.create_session()
        acknowledged: list[str] = []
        refused: list[Exception] = []

        def append_until_gone() -> None:
            for n in range(500):
                try:
                    acknowledged.append(store.append(session.id, new_event("step", {"n": n})).id)
                except SessionNotFoundError as error:
                    refused.append(error)
                    return

        writer = threading.Thread(target=append_until_gone)
        writer.start()
        while not acknowledged and writer.is_alive():
            time.sleep(0.001)
        deleted = store.delete_session(session.id)
        writer.join(timeout=60)
        assert refused or len(acknowledged) == 500
        assert deleted.event_count <= len(acknowledged)
        store.create_session(id=session.id)
        assert store.get_events(session.id) == []  # no acknowledged append came back


class ListingScenarios:
    def test_limit_none_lists_every_session(self, store: Store) -> None:
        ids = [store.create_session().id for _ in range(103)][::-1]
        assert len(store.list_sessions()) == 100  # the default stays
        assert [s.id for s in store.list_sessions(limit=None)] == ids
        assert [s.id for s in store.list_sessions(limit=None, offset=100)] == ids[100:]

    def test_a_negative_limit_is_still_an_error(self, store: Store) -> None:
        with pytest.raises(InvalidArgumentError):
            store.list_sessions(limit=-1)

    def test_a_forks_last_update_is_never_before_its_creation(self, store: Store) -> None:
        parent = store.create_session()
        record(store, parent.id, 3)
        time.sleep(0.01)
        fork = store.fork(parent.id, at_seq=2)
        for seen in (fork, store.get_session(fork.id), *store.list_sessions(limit=1)):
            assert seen.id == fork.id
            assert seen.updated_at >= seen.created_at
            assert (seen.parent_id, seen.forked_at_seq) == (parent.id, 2)
        later = store.append(fork.id, new_event("retry"))
        assert store.get_session(fork.id).updated_at == later.timestamp


class ReadOnlyLifecycleScenarios:
    def test_a_read_only_store_changes_no_session(self, open_store: StoreFactory) -> None:
        with open_store() as writer:
            session = writer.create_session(id="kept", name="kept", labels={"k": "v"})
            record(writer, session.id, 2)
            before = writer.get_session(session.id)
        with open_store(read_only=True) as reader:
            refused: list[Callable[[], object]] = [
                lambda: reader.create_session(id="kept", exist_ok=True),  # even a get
                lambda: reader.update_session("kept", name="renamed"),
                lambda: reader.update_session("kept", remove_labels=["k"]),
                lambda: reader.delete_session("kept"),
            ]
            for write in refused:
                with pytest.raises(ReadOnlyStoreError):
                    write()
            assert reader.get_session("kept") == before
        with open_store() as writer:
            assert writer.get_session("kept") == before
            assert len(writer.get_events("kept")) == 2


class LifecycleScenarios(
    GetOrCreateScenarios,
    UpdateScenarios,
    DeleteScenarios,
    ListingScenarios,
    ReadOnlyLifecycleScenarios,
):
    """Every scenario of a session's life."""
