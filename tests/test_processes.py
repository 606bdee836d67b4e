"""Real processes on every durable backend: concurrent writers, creators, watchers, crashes."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import agentstore
from agentstore import new_event
from agentstore.verifying import verify

from .workers import send, serving, spawn, until_done

WORKERS = Path(__file__).parent / "workers.py"
ROOT = Path(__file__).parent.parent
POSTGRES = os.environ.get("AGENTSTORE_TEST_POSTGRES_URL", "")


@dataclass
class Target:
    """A durable store the test and its subprocesses open."""

    url: str
    options: dict[str, Any] = field(default_factory=dict)

    def open(self) -> agentstore.Store:
        return agentstore.open(self.url, **self.options)

    def start(self, *args: str) -> subprocess.Popen[str]:
        env = {**os.environ, "AGENTSTORE_TEST_OPTIONS": json.dumps(self.options)}
        return subprocess.Popen(
            [sys.executable, str(WORKERS), args[0], self.url, *args[1:]],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )


@pytest.fixture(params=["jsonl", "sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    if request.param == "jsonl":
        yield Target(str(tmp_path / "data"))
    elif request.param == "sqlite":
        yield Target(f"sqlite:///{tmp_path / 'agents.db'}")
    else:
        if not POSTGRES:
            pytest.skip("set AGENTSTORE_TEST_POSTGRES_URL to run the PostgreSQL tests")
        import psycopg

        schema = f"test_{uuid.uuid4().hex[:16]}"
        yield Target(POSTGRES, {"schema": schema})
        with psycopg.connect(POSTGRES, autocommit=True) as db:
            db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def test_four_processes_of_two_threads_get_gapless_seqs(target: Target) -> None:
    with target.open() as store:
        session = store.create_session()
    spawns = [spawn("append", target.url, session.id, "25", "2", f"p{n}") for n in range(4)]
    with serving(target.start("serve")) as server:
        send(server, *spawns, "wait")
        assert until_done(server) == ([], [0, 0, 0, 0])
    with target.open() as store:
        events = store.get_events(session.id)
        assert [e.seq for e in events] == list(range(1, 201))
        writers = Counter((e.payload["tag"], e.payload["thread"]) for e in events)
        assert writers == {(f"p{p}", t): 25 for p in range(4) for t in range(2)}
        for writer in writers:
            mine = [
                e.payload["n"] for e in events if (e.payload["tag"], e.payload["thread"]) == writer
            ]
            assert mine == list(range(25))


def test_sixteen_processes_create_one_session_once(target: Target) -> None:
    target.open().close()
    with serving(target.start("serve")) as server:
        send(server, spawn("create", target.url, "contested", count=16), "wait")  # at once
        lines, statuses = until_done(server)
    assert statuses == [0] * 16
    assert Counter(lines) == {"created": 1, "exists": 15}
    with target.open() as store:
        assert [s.id for s in store.list_sessions()] == ["contested"]


def test_two_stores_in_one_process_share_a_session(target: Target) -> None:
    with target.open() as one, target.open() as two:
        session = one.create_session()
        for n in range(20):
            writer = one if n % 3 else two
            writer.append(session.id, new_event("step", {"n": n}))
        assert [e.payload["n"] for e in two.get_events(session.id)] == list(range(20))
        assert one.get_state(session.id).version == two.get_state(session.id).version == 20


def test_a_watch_sees_another_process_append_within_100_ms(target: Target) -> None:
    with target.open() as store:
        session = store.create_session()
        feed = store.watch(session.id, timeout=10)
        everything = store.watch(timeout=10)
        process = target.start("forever", session.id)
        assert process.stdout is not None
        acknowledged = process.stdout.readline()  # the writer's first append returned
        seen_at = time.monotonic()
        first = next(feed)
        delay = time.monotonic() - seen_at
        assert next(everything).id == first.id == acknowledged.strip()
        process.kill()
        process.communicate(timeout=30)
        feed.stop()
        everything.stop()
    assert delay < 0.1


def test_killed_writers_lose_no_acknowledged_event(target: Target) -> None:
    """SIGKILL a writer at random moments (30 times), then check every acknowledgement.

    Each writer is a new process that opens the store, forked from one whose imports are
    done: a kill then costs the writer's open and its time to live, not an interpreter's
    start.
    """
    with target.open() as store:
        session = store.create_session()
    acknowledged: list[str] = []
    rng = random.Random(20261126)
    kills = int(os.environ.get("AGENTSTORE_TEST_KILLS", "30"))
    log = Path(target.url) / "events" / f"{session.id}.jsonl"
    with serving(target.start("serve")) as server:
        assert server.stdout is not None
        for kill in range(kills):
            send(server, spawn("forever", target.url, session.id))
            first = server.stdout.readline()  # it is appending now, however slow its open
            assert first, server.communicate(timeout=30)[1]
            time.sleep(rng.uniform(0, 0.1))
            send(server, "kill")
            out, statuses = until_done(server)
            assert statuses == [-signal.SIGKILL], out
            acknowledged.extend(line for line in [first.strip(), *out] if line)
            if log.exists() and kill % 3 == 0:  # what a crash mid-write leaves in a JSONL log
                with open(log, "ab") as file:
                    debris = [b'{"session_id":"', b"\x00" * 40, b'{"sequence_number": 9']
                    file.write(rng.choice(debris))
    with target.open() as store:
        events = store.get_events(session.id)
        ids = [e.id for e in events]
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert len(set(ids)) == len(ids)
        assert set(acknowledged) <= set(ids)
        after = store.append(session.id, new_event("after.crashes"))
        assert after.seq == len(events) + 1
    assert len(acknowledged) > kills


# A store opened at import, before a pool of worker processes is forked from the process.
_OPENED_BEFORE_THE_FORK: dict[str, agentstore.Store] = {}


def _append_in_a_worker(session_id: str) -> list[tuple[str, int]]:
    store = _OPENED_BEFORE_THE_FORK["store"]
    return [
        (event.id, event.seq)
        for event in (
            store.append(session_id, new_event("worker", {"pid": os.getpid(), "n": n}))
            for n in range(20)
        )
    ]


def test_a_pool_of_forked_workers_shares_the_store_its_parent_opened(target: Target) -> None:
    with target.open() as store:
        session = store.create_session()
        store.append(session.id, new_event("before"))  # its files or connections are open
        _OPENED_BEFORE_THE_FORK["store"] = store
        with warnings.catch_warnings():
            # Python 3.12+ warns that forking a process with threads may deadlock the
            # child: that fork is the very thing tested here.
            warnings.simplefilter("ignore", DeprecationWarning)
            pool = multiprocessing.get_context("fork").Pool(4)
        try:
            work = pool.map_async(_append_in_a_worker, [session.id] * 8, chunksize=1)
            ours = [store.append(session.id, new_event("parent")) for _ in range(20)]
            theirs = [ack for acknowledged in work.get(timeout=120) for ack in acknowledged]
        finally:
            pool.terminate()
            pool.join()
            _OPENED_BEFORE_THE_FORK.clear()
    with target.open() as fresh:
        events = fresh.get_events(session.id)
        assert [event.seq for event in events] == list(range(1, 182))
        stored = {event.id: event.seq for event in events}
        acknowledged = [*theirs, *((event.id, event.seq) for event in ours)]
        assert {event_id: stored.get(event_id) for event_id, _ in acknowledged} == dict(
            acknowledged
        )
        assert verify(fresh).problems == []
