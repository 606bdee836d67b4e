"""Simulated power losses at 200 random points of a JSONL store's life.

Each run records a workload (sessions created, single appends, batches, snapshots, forks)
through a file layer that loses power at one operation, then reopens what a disk would
hold afterwards. No acknowledged event or created session may be missing, seqs must be
1..N, and the store must keep working.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

import agentstore
from agentstore import Store, new_event
from agentstore.backends.jsonl import JsonlBackend

from .power_loss import PowerLoss, PowerLossFiles

POINTS = int(os.environ.get("AGENTSTORE_TEST_POWER_LOSSES", "200"))


class Acknowledged:
    """What the workload was told had been stored."""

    def __init__(self) -> None:
        self.sessions: list[str] = []
        self.events: dict[str, list[str]] = {}
        self.batches: list[list[str]] = []  # every batch tried, acknowledged or not


def workload(store: Store, done: Acknowledged) -> None:
    """A store's life in miniature; it records each acknowledgement as it gets it."""
    rng = random.Random(7)
    for round_ in range(3):
        session = store.create_session(name=f"run-{round_}", labels={"round": str(round_)})
        done.sessions.append(session.id)
        done.events[session.id] = []
        for n in range(6):
            if n % 3 == 2:
                batch = [new_event("step", {"n": n, "i": i}) for i in range(3)]
                done.batches.append([event.id for event in batch])
                stored = store.append_batch(session.id, batch)
                done.events[session.id].extend(e.id for e in stored)
            else:
                payload = {"n": n, "text": "x" * rng.randint(0, 600)}
                stored_one = store.append(session.id, new_event("step", payload))
                done.events[session.id].append(stored_one.id)
            store.get_state(session.id)  # takes snapshots every 4 events
        fork = store.fork(session.id, at_seq=5)
        done.sessions.append(fork.id)
        done.events[fork.id] = done.events[session.id][:5]
        stored_one = store.append(fork.id, new_event("after.fork"))
        done.events[fork.id].append(stored_one.id)


def _run(root: Path, crash_at: int | None) -> tuple[PowerLossFiles, Acknowledged]:
    files = PowerLossFiles(str(root), crash_at=crash_at)
    done = Acknowledged()
    backend = None
    try:
        backend = JsonlBackend(root, files=files)
        workload(Store(backend, snapshot_interval=4), done)
    except PowerLoss:
        pass
    finally:
        if backend is not None:
            backend.close()  # the process is gone: descriptors go, nothing is flushed
    return files, done


def test_the_workload_runs_through_without_a_crash(tmp_path: Path) -> None:
    files, done = _run(tmp_path / "data", crash_at=None)
    assert len(done.sessions) == 6
    assert files.operations > 100


def test_no_acknowledged_write_is_lost_at_any_power_loss(tmp_path: Path) -> None:
    total = _run(tmp_path / "count", crash_at=None)[0].operations
    rng = random.Random(20261126)
    points = sorted(rng.sample(range(1, total + 1), min(POINTS, total)))
    for number, point in enumerate(points):
        root = tmp_path / f"run-{number}"
        files, done = _run(root, crash_at=point)
        rebooted = tmp_path / f"after-{number}"
        files.crash_copy(str(rebooted), rng)
        try:
            _check(rebooted, done)
        except AssertionError as failure:
            pytest.fail(f"power lost at operation {point} of {total}: {failure}")


def _check(root: Path, done: Acknowledged) -> None:
    with agentstore.open(root, snapshot_interval=4) as store:
        present = {session.id for session in store.list_sessions(limit=1000)}
        assert set(done.sessions) <= present, "a created session is missing"
        for session_id in present:
            events = store.get_events(session_id)
            assert [e.seq for e in events] == list(range(1, len(events) + 1))
            ids = [e.id for e in events]
            acknowledged = done.events.get(session_id, [])
            assert ids[: len(acknowledged)] == acknowledged, "an acknowledged event is missing"
            assert store.get_state(session_id).version == len(events)
            for batch in done.batches:
                kept = [event_id for event_id in batch if event_id in ids]
                assert kept in ([], batch), "a batch was stored in part"
            assert store.append(session_id, new_event("after.reboot")).seq == len(events) + 1
