"""Threads: many writers on one session, racing optimistic writers, and closing."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from agentstore import ConcurrencyError, Session, Store, StoreClosedError, new_event
from agentstore.testing.conformance.base import StoreFactory, record


def _run_threads(count: int, work: Callable[[int], None]) -> None:
    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(number: int) -> None:
        start.wait()
        try:
            work(number)
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


class ConcurrencyScenarios:
    writers = 8
    appends_per_writer = 150

    def test_threads_appending_to_one_session_get_gapless_unique_seqs(
        self, store: Store, session: Session
    ) -> None:
        def write(worker: int) -> None:
            for n in range(self.appends_per_writer):
                store.append(session.id, new_event("step", {"worker": worker, "n": n}))

        _run_threads(self.writers, write)
        events = store.get_events(session.id)
        total = self.writers * self.appends_per_writer
        assert [e.seq for e in events] == list(range(1, total + 1))
        assert len({e.id for e in events}) == total
        for worker in range(self.writers):  # each writer's events keep their order
            mine = [e.payload["n"] for e in events if e.payload["worker"] == worker]
            assert mine == list(range(self.appends_per_writer))
        assert store.get_state(session.id).event_count == total

    def test_threads_appending_batches_never_interleave_them(
        self, store: Store, session: Session
    ) -> None:
        def write(worker: int) -> None:
            for n in range(10):
                batch = [new_event("step", {"worker": worker, "n": n, "i": i}) for i in range(5)]
                store.append_batch(session.id, batch)

        _run_threads(self.writers, write)
        events = store.get_events(session.id)
        assert [e.seq for e in events] == list(range(1, self.writers * 50 + 1))
        for start in range(0, len(events), 5):
            batch = events[start : start + 5]
            assert len({(e.payload["worker"], e.payload["n"]) for e in batch}) == 1
            assert [e.payload["i"] for e in batch] == [0, 1, 2, 3, 4]

    def test_optimistic_writers_each_win_exactly_once_per_seq(
        self, store: Store, session: Session
    ) -> None:
        wins: list[int] = []
        losses: list[tuple[int, int]] = []
        lock = threading.Lock()

        def write(worker: int) -> None:
            for _ in range(30):
                last = store.get_session(session.id).event_count
                try:
                    stored = store.append(session.id, new_event("claim"), expected_seq=last)
                except ConcurrencyError as lost:
                    losses.append((last, lost.actual))
                    continue
                with lock:
                    wins.append(stored.seq)

        _run_threads(self.writers, write)
        assert sorted(wins) == list(range(1, store.get_session(session.id).event_count + 1))
        assert all(actual > expected for expected, actual in losses)

    def test_every_operation_fails_after_close(self, open_store: StoreFactory) -> None:
        store = open_store()
        session = store.create_session()
        record(store, session.id, 1)
        store.close()
        store.close()  # twice is fine
        assert store.closed
        calls: list[Callable[[], object]] = [
            lambda: store.create_session(),
            lambda: store.get_session(session.id),
            lambda: store.list_sessions(),
            lambda: store.append(session.id, new_event("late")),
            lambda: store.append_batch(session.id, [new_event("late")]),
            lambda: store.get_events(session.id),
            lambda: store.get_state(session.id),
            lambda: store.replay(session.id),
            lambda: store.fork(session.id, at_seq=1),
            lambda: store.watch(session.id),
        ]
        for call in calls:
            with pytest.raises(StoreClosedError):
                call()

    def test_the_context_manager_closes_the_store(self, open_store: StoreFactory) -> None:
        with open_store() as store:
            session = store.create_session()
        assert store.closed
        with pytest.raises(StoreClosedError):
            store.get_session(session.id)
        with pytest.raises(StoreClosedError), store:
            pass
