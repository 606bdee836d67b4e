"""Forks, and live feeds of new events."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from agentstore import (
    InvalidArgumentError,
    Session,
    SessionExistsError,
    SessionNotFoundError,
    Store,
    new_event,
)
from agentstore.events import Event
from agentstore.testing.conformance.base import StoreFactory, record, through


class ForkScenarios:
    def test_a_fork_starts_with_the_first_events_of_its_parent(
        self, store: Store, session: Session
    ) -> None:
        stored = record(store, session.id, 10)
        fork = store.fork(session.id, at_seq=6)
        assert (fork.parent_id, fork.forked_at_seq, fork.event_count) == (session.id, 6, 6)
        copied = store.get_events(fork.id)
        assert [(e.id, e.seq, e.type, e.payload, e.timestamp, e.metadata) for e in copied] == [
            (e.id, e.seq, e.type, e.payload, e.timestamp, e.metadata) for e in stored[:6]
        ]
        assert all(e.session_id == fork.id for e in copied)
        parent_state = store.get_state(session.id, at_seq=6)
        fork_state = store.get_state(fork.id)
        assert fork_state.data == parent_state.data
        assert (fork_state.tokens, fork_state.version) == (parent_state.tokens, 6)

    def test_a_fork_and_its_parent_go_separate_ways(self, store: Store, session: Session) -> None:
        record(store, session.id, 5)
        fork = store.fork(session.id, at_seq=3)
        assert store.append(fork.id, new_event("retry", {"with": "other prompt"})).seq == 4
        assert store.append(session.id, new_event("original")).seq == 6
        assert [e.type for e in store.get_events(fork.id)][-1] == "retry"
        assert store.get_session(session.id).event_count == 6

    def test_a_fork_inherits_name_and_labels(self, store: Store) -> None:
        parent = store.create_session(name="triage", labels={"env": "prod", "agent": "a"})
        fork = store.fork(parent.id, at_seq=0, labels={"env": "replay", "try": "2"})
        assert fork.name == "triage"
        assert dict(fork.labels) == {"env": "replay", "agent": "a", "try": "2"}
        named = store.fork(parent.id, at_seq=0, name="triage-retry", id="retry-1")
        assert (named.id, named.name) == ("retry-1", "triage-retry")
        assert store.get_events("retry-1") == []
        with pytest.raises(SessionExistsError):
            store.fork(parent.id, at_seq=0, id="retry-1")

    def test_a_fork_of_a_fork_keeps_going(self, store: Store, session: Session) -> None:
        record(store, session.id, 4)
        child = store.fork(session.id, at_seq=4)
        record(store, child.id, 2)
        grandchild = store.fork(child.id, at_seq=5)
        assert (grandchild.parent_id, store.get_state(grandchild.id).version) == (child.id, 5)

    def test_forking_past_the_end_or_an_unknown_session_fails(
        self, store: Store, session: Session
    ) -> None:
        record(store, session.id, 3)
        with pytest.raises(InvalidArgumentError, match="past the last event"):
            store.fork(session.id, at_seq=4)
        with pytest.raises(SessionNotFoundError):
            store.fork("missing", at_seq=0)
        assert len(store.list_sessions()) == 1

    def test_a_fork_outlives_the_store(self, open_store: StoreFactory) -> None:
        with open_store() as store:
            session = store.create_session()
            record(store, session.id, 4)
            fork = store.fork(session.id, at_seq=2)
        with open_store() as reopened:
            found = reopened.get_session(fork.id)
            assert (found.parent_id, found.forked_at_seq, found.event_count) == (session.id, 2, 2)


def _in_background(action: Callable[[], object], delay: float = 0.05) -> threading.Thread:
    def run() -> None:
        time.sleep(delay)
        action()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


class WatchScenarios:
    def test_watch_yields_the_stored_events_then_stops_after_its_timeout(
        self, store: Store, session: Session
    ) -> None:
        stored = record(store, session.id, 3)
        started = time.monotonic()
        assert list(store.watch(session.id, timeout=0.2)) == stored
        assert time.monotonic() - started >= 0.2

    def test_watch_starts_at_from_seq(self, store: Store, session: Session) -> None:
        stored = record(store, session.id, 5)
        assert list(store.watch(session.id, from_seq=4, timeout=0.05)) == stored[3:]

    def test_watch_yields_new_events_as_they_are_appended(
        self, store: Store, session: Session
    ) -> None:
        record(store, session.id, 2)
        writer = _in_background(lambda: record(store, session.id, 4))  # the last ends the feed
        seen = [e.seq for e in through(store.watch(session.id, timeout=10), lambda e: e.seq == 6)]
        writer.join()
        assert seen == [1, 2, 3, 4, 5, 6]

    def test_watch_of_a_session_ignores_other_sessions(self, store: Store) -> None:
        one, two = store.create_session(), store.create_session()
        writer = _in_background(lambda: (record(store, two.id, 2), record(store, one.id, 2)))
        # The second of one's events ends the feed (as would one of two's, let through).
        seen = through(store.watch(one.id, timeout=10), lambda e: e.seq == 2)
        writer.join()
        assert [(e.session_id, e.seq) for e in seen] == [(one.id, 1), (one.id, 2)]

    def test_watch_of_all_sessions_sees_every_new_event(self, store: Store) -> None:
        one, two = store.create_session(), store.create_session()
        record(store, one.id, 2)  # before the watch: not part of it
        feed = store.watch(timeout=10)
        record(store, one.id, 1)  # after the watch, before its first next(): part of it
        writer = _in_background(lambda: record(store, two.id, 3))  # the last ends the feed
        seen = [
            (e.session_id, e.seq)
            for e in through(feed, lambda e: e.seq == 3 and e.session_id == two.id)
        ]
        writer.join()
        assert seen == [(one.id, 3), (two.id, 1), (two.id, 2), (two.id, 3)]

    def test_events_between_watch_and_first_next_are_not_lost(
        self, store: Store, session: Session
    ) -> None:
        record(store, session.id, 2)
        feed = store.watch(session.id, from_seq=2, timeout=0.2)
        record(store, session.id, 2)
        assert [e.seq for e in feed] == [2, 3, 4]

    def test_closing_the_store_ends_its_watchers(self, open_store: StoreFactory) -> None:
        store = open_store()
        session = store.create_session()
        seen: list[Event] = []
        feed: Iterator[Event] = store.watch(session.id)  # no timeout: only close ends it
        reader = threading.Thread(target=lambda: seen.extend(feed), daemon=True)
        reader.start()
        record(store, session.id, 1)
        time.sleep(0.1)
        store.close()
        reader.join(timeout=5)
        assert not reader.is_alive()
        assert [e.seq for e in seen] == [1], seen

    def test_stop_ends_a_watch_from_another_thread(self, store: Store, session: Session) -> None:
        record(store, session.id, 2)
        feed = store.watch(session.id)  # no timeout: it would wait forever
        stopper = _in_background(feed.stop, delay=0.2)
        started = time.monotonic()
        assert [e.seq for e in feed] == [1, 2]
        stopper.join()
        assert feed.stopped
        assert 0.15 < time.monotonic() - started < 5
        assert list(feed) == []

    def test_a_watch_is_a_context_manager(self, store: Store, session: Session) -> None:
        record(store, session.id, 3)
        with store.watch(session.id) as feed:
            first = next(feed)
        assert first.seq == 1
        assert feed.stopped
        assert list(feed) == []

    def test_a_watch_of_all_sessions_skips_fork_histories(self, store: Store) -> None:
        parent = store.create_session()
        record(store, parent.id, 3)
        feed = store.watch(timeout=10)
        fork = store.fork(parent.id, at_seq=3)
        store.append(fork.id, new_event("after.fork"))
        store.append(fork.id, new_event("last"))  # what the feed should skip comes before it
        seen = [(e.session_id, e.type) for e in through(feed, lambda e: e.type == "last")]
        assert seen == [(fork.id, "after.fork"), (fork.id, "last")]

    def test_watching_an_unknown_session_fails_at_once(self, store: Store) -> None:
        with pytest.raises(SessionNotFoundError):
            store.watch("missing")

    def test_an_abandoned_watch_releases_its_feed(self, store: Store, session: Session) -> None:
        feed = store.watch(session.id, timeout=5)
        record(store, session.id, 1)
        assert next(feed).seq == 1
        started = time.monotonic()
        feed.close()  # what a for loop's break and garbage collection do
        assert time.monotonic() - started < 1
        assert store.append(session.id, new_event("after")).seq == 2
