"""Real processes on one JSONL directory: concurrent writers, creators, watchers and crashes."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import agentstore
from agentstore import new_event

WORKERS = Path(__file__).parent / "workers.py"
ROOT = Path(__file__).parent.parent


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKERS), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def _finish(process: subprocess.Popen[str]) -> str:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return out


def test_four_processes_of_two_threads_get_gapless_seqs(tmp_path: Path) -> None:
    target = str(tmp_path / "data")
    with agentstore.open(target) as store:
        session = store.create_session()
    processes = [_start("append", target, session.id, "25", "2", f"p{n}") for n in range(4)]
    for process in processes:
        _finish(process)
    with agentstore.open(target) as store:
        events = store.get_events(session.id)
        assert [e.seq for e in events] == list(range(1, 201))
        per_writer = Counter((e.payload["tag"], e.payload["thread"]) for e in events)
        assert per_writer == {(f"p{p}", t): 25 for p in range(4) for t in range(2)}
        for writer in per_writer:
            mine = [
                e.payload["n"] for e in events if (e.payload["tag"], e.payload["thread"]) == writer
            ]
            assert mine == list(range(25))


def test_sixteen_processes_create_one_session_once(tmp_path: Path) -> None:
    target = str(tmp_path / "data")
    agentstore.open(target).close()
    processes = [_start("create", target, "contested") for _ in range(16)]
    outcomes = Counter(_finish(process).strip() for process in processes)
    assert outcomes == {"created": 1, "exists": 15}
    with agentstore.open(target) as store:
        assert [s.id for s in store.list_sessions()] == ["contested"]


def test_two_stores_in_one_process_share_a_session(tmp_path: Path) -> None:
    target = tmp_path / "data"
    with agentstore.open(target) as one, agentstore.open(target) as two:
        session = one.create_session()
        for n in range(20):
            writer = one if n % 3 else two
            writer.append(session.id, new_event("step", {"n": n}))
        assert [e.payload["n"] for e in two.get_events(session.id)] == list(range(20))
        assert one.get_state(session.id).version == two.get_state(session.id).version == 20


def test_a_watch_sees_another_process_append(tmp_path: Path) -> None:
    target = str(tmp_path / "data")
    with agentstore.open(target) as store:
        session = store.create_session()
        feed = store.watch(session.id, timeout=5)
        everything = store.watch(timeout=5)
        process = _start("append", target, session.id, "3", "1", "other")
        seen = [next(feed) for _ in range(3)]
        seen_all = [next(everything) for _ in range(3)]
        _finish(process)
        feed.stop()
        everything.stop()
        assert [e.payload["n"] for e in seen] == [0, 1, 2]
        assert [e.seq for e in seen_all] == [1, 2, 3]


def test_killed_writers_lose_no_acknowledged_event(tmp_path: Path) -> None:
    """SIGKILL a writer at random moments, sometimes leave a torn line, then check the log."""
    target = str(tmp_path / "data")
    with agentstore.open(target) as store:
        session = store.create_session()
    log = Path(target) / "events" / f"{session.id}.jsonl"
    acknowledged: list[str] = []
    rng = random.Random(20261126)
    kills = int(os.environ.get("AGENTSTORE_TEST_KILLS", "30"))
    for kill in range(kills):
        process = _start("forever", target, session.id)
        assert process.stdout is not None
        time.sleep(rng.uniform(0.02, 0.15))
        process.send_signal(signal.SIGKILL)
        out, _ = process.communicate(timeout=30)
        acknowledged.extend(line for line in out.splitlines() if line)
        if kill % 3 == 0:  # what a crash mid-write or a power loss leaves behind
            with open(log, "ab") as file:
                file.write(
                    rng.choice(
                        [
                            b'{"session_id":"' + session.id.encode(),
                            b"\x00" * 40,
                            b'{"sequence_number": 99',
                        ]
                    )
                )
    with agentstore.open(target) as store:
        events = store.get_events(session.id)
        ids = [e.id for e in events]
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert len(set(ids)) == len(ids)
        assert set(acknowledged) <= set(ids)
        after = store.append(session.id, new_event("after.crashes"))
        assert after.seq == len(events) + 1
        assert store.get_events(session.id)[-1] == after
    assert len(acknowledged) > kills
