"""In-memory specifics: feeds released, the state cache under threads, clocks stepped back."""

from __future__ import annotations

import gc
import threading
from datetime import UTC, datetime, timedelta

import pytest

import agentstore
from agentstore import Store, new_event, timestamps
from agentstore.backends import MemoryBackend, memory
from agentstore.core import materializer


def test_stopped_and_forgotten_watches_release_their_feeds() -> None:
    backend = MemoryBackend()
    with Store(backend) as store:
        session = store.create_session()
        stopped = store.watch(session.id, timeout=5)
        with store.watch(session.id, timeout=5):
            assert backend.subscriptions == 2
        stopped.stop()
        forgotten = store.watch()
        forgotten.me = forgotten  # type: ignore[attr-defined] # a cycle: only gc frees it
        del forgotten
        gc.collect()
        store.append(session.id, new_event("after"))
        assert backend.subscriptions == 0


def test_the_state_cache_stays_consistent_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(materializer, "_CACHE_LIMIT", 8)
    with agentstore.open(":memory:") as store:
        ids = [store.create_session().id for _ in range(64)]
        for session_id in ids:
            store.append(session_id, new_event("step"))
        errors: list[BaseException] = []

        def read() -> None:
            try:
                for _ in range(20):
                    for session_id in ids:
                        assert store.get_state(session_id).version == 1
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

        threads = [threading.Thread(target=read) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []


def test_times_never_go_back_even_if_the_clock_does(monkeypatch: pytest.MonkeyPatch) -> None:
    past = datetime.now(UTC) - timedelta(hours=1)
    with agentstore.open(":memory:") as store:
        one, two = store.create_session(), store.create_session()
        monkeypatch.setattr(memory, "_now", lambda tz: past)
        monkeypatch.setattr(timestamps, "now", lambda: past)
        single = store.append(one.id, new_event("step"))
        (batched,) = store.append_batch(two.id, [new_event("step")])
        assert single.timestamp == one.created_at
        assert batched.timestamp == two.created_at
        assert store.replay(one.id, since=one.created_at) == [single]


def test_huge_limits_and_timeouts_mean_no_limit() -> None:
    with agentstore.open(":memory:") as store:
        session = store.create_session()
        assert len(store.list_sessions(limit=2**63, offset=0)) == 1
        assert store.list_sessions(offset=2**70) == []
        feed = store.watch(session.id, timeout=float("inf"))
        threading.Timer(0.1, feed.stop).start()
        assert list(feed) == []


def test_reducers_without_a_name_of_their_own_take_no_snapshots() -> None:
    def make(weight: int) -> agentstore.Reducer:
        def score(state: agentstore.State, event: agentstore.Event) -> agentstore.State:
            total = int(state.data.get("score", 0)) + weight
            return agentstore.State(state.session_id, data={"score": total})

        return score

    backend = memory.MemoryBackend()
    light = Store(backend, reducer=make(1), snapshot_interval=5)
    session = light.create_session()
    for _ in range(10):
        light.append(session.id, new_event("step"))
    assert light.get_state(session.id).data == {"score": 10}
    assert backend.read_snapshot(session.id) is None
    heavy = Store(backend, reducer=make(10), snapshot_interval=5)
    assert heavy.get_state(session.id).data == {"score": 100}
