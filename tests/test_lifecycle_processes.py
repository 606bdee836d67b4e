"""A session's life across real processes: get or create at once, deletions killed midway."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import agentstore
from agentstore import SessionNotFoundError, Store, new_event
from agentstore.verifying import verify

from .workers import send, serving, spawn, until_done

WORKERS = Path(__file__).parent / "lifecycle_workers.py"
ROOT = Path(__file__).parent.parent
POSTGRES = os.environ.get("AGENTSTORE_TEST_POSTGRES_URL", "")

# Where a database deletion is killed: before each of its statements, inside its
# transaction; "never" lets it finish.
DATABASE_POINTS = {
    "sqlite": ["DELETE FROM events", "DELETE FROM snapshots", "DELETE FROM sessions", "COMMIT"],
    "postgres": ["sessions", "events", "snapshots"],
}


@dataclass
class Target:
    """A durable store the test and its subprocesses open."""

    kind: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)

    def open(self, **options: Any) -> Store:
        return agentstore.open(self.url, **self.options, **options)

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
        yield Target("jsonl", str(tmp_path / "data"))
    elif request.param == "sqlite":
        yield Target("sqlite", f"sqlite:///{tmp_path / 'agents.db'}")
    else:
        if not POSTGRES:
            pytest.skip("set AGENTSTORE_TEST_POSTGRES_URL to run the PostgreSQL tests")
        import psycopg

        schema = f"test_{uuid.uuid4().hex[:16]}"
        yield Target("postgres", POSTGRES, {"schema": schema})
        with psycopg.connect(POSTGRES, autocommit=True) as db:
            db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def test_eight_processes_getting_or_creating_one_id_get_one_session(target: Target) -> None:
    target.open().close()
    with serving(target.start("serve")) as server:  # forks the eight at once
        spawns = [spawn("get-or-create", target.url, "contested", f"p{n}") for n in range(8)]
        send(server, *spawns, "wait")
        lines, statuses = until_done(server)
    assert statuses == [0] * 8, lines
    answers = [tuple(json.loads(line)) for line in lines]
    assert len(Counter(answers)) == 1, answers  # one name and creation time for all
    with target.open() as store:
        (session,) = store.list_sessions(limit=None)
        assert (session.id, session.name) == ("contested", answers[0][0])


def _fill(store: Store) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A session to delete (with a snapshot) and one to keep: their events as dicts."""
    doomed = store.create_session(id="doomed", name="doomed", labels={"env": "dev"})
    store.append_batch(doomed.id, [new_event("step", {"n": n}) for n in range(25)])
    assert store.get_state(doomed.id).version == 25  # saves a snapshot at 20
    kept = store.create_session(id="kept")
    store.append_batch(kept.id, [new_event("step", {"n": n}) for n in range(3)])
    return _history(store, doomed.id), _history(store, kept.id)


def _history(store: Store, session_id: str) -> list[dict[str, Any]]:
    return [event.to_dict() for event in store.get_events(session_id)]


def _whole_or_gone(store: Store, doomed: list[dict[str, Any]], kept: list[dict[str, Any]]) -> str:
    """Check the deleted session is there whole or not at all; say which."""
    assert _history(store, "kept") == kept
    listed = [session.id for session in store.list_sessions(limit=None)]
    try:
        found = store.get_session("doomed")
    except SessionNotFoundError:
        assert listed == ["kept"]
        with pytest.raises(SessionNotFoundError):
            store.get_events("doomed")
        store.create_session(id="doomed")  # nothing of the old one comes back
        assert store.get_events("doomed") == []
        assert store.get_state("doomed").version == 0
        return "gone"
    assert (found.name, dict(found.labels), found.event_count) == ("doomed", {"env": "dev"}, 25)
    assert sorted(listed) == ["doomed", "kept"]
    assert _history(store, "doomed") == doomed
    assert store.get_state("doomed").version == 25
    assert verify(store, ["doomed"]).errors == []
    return "whole"


def _copy(source: Target, tmp_path: Path, n: int) -> Target:
    """A fresh copy of a file store, for one killed deletion."""
    if source.kind == "jsonl":
        copy = tmp_path / f"copy-{n}"
        shutil.copytree(source.url, copy)
        return Target("jsonl", str(copy))
    path = Path(source.url[len("sqlite:///") :])
    copy = tmp_path / f"copy-{n}.db"
    for suffix in ("", "-wal", "-shm"):  # the database as a crash would leave it
        if Path(f"{path}{suffix}").exists():
            shutil.copyfile(f"{path}{suffix}", f"{copy}{suffix}")
    return Target("sqlite", f"sqlite:///{copy}")


def test_a_deletion_killed_at_any_point_leaves_the_session_whole_or_gone(
    target: Target, tmp_path: Path
) -> None:
    with target.open(snapshot_interval=10) as store:
        doomed, kept = _fill(store)
    outcomes = []
    points = DATABASE_POINTS.get(target.kind) or [str(n) for n in range(1, 100)]
    with serving(target.start("serve")) as server:  # forks each deletion
        for n, point in enumerate([*points, "never"]):
            # A file store is copied for each point; a database deletion killed midway
            # leaves it whole, so the next point starts from the same data.
            attempt = _copy(target, tmp_path, n) if target.kind != "postgres" else target
            at = "0" if point == "never" else point
            send(server, spawn("delete-killed", attempt.url, "doomed", at), "wait")
            printed, (status,) = until_done(server)
            finished = status == 0
            assert finished or status == -9, printed  # killed: SIGKILL
            with attempt.open(snapshot_interval=10) as store:
                outcome = _whole_or_gone(store, doomed, kept)
            outcomes.append((point, outcome))
            assert outcome == ("gone" if finished else "whole") or target.kind == "jsonl", outcomes
            if finished:
                break
    # Every point of the deletion was tried: killed before its commit it is whole, after
    # it gone (a JSONL directory's commit is the removal of the session's record).
    assert outcomes[0][1] == "whole"
    assert outcomes[-1] == (outcomes[-1][0], "gone")
    assert [outcome for _, outcome in outcomes] == sorted(
        (outcome for _, outcome in outcomes), key=lambda o: o == "gone"
    )
    assert len(outcomes) >= 4, outcomes


def test_a_process_appending_to_a_deleted_session_is_refused(target: Target) -> None:
    with target.open() as store:
        session = store.create_session()
    env = {**os.environ, "AGENTSTORE_TEST_OPTIONS": json.dumps(target.options)}
    writer = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "workers.py"), "forever", target.url, session.id],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert writer.stdout is not None
    assert writer.stdout.readline()  # it is appending now
    with target.open() as store:
        deleted = store.delete_session(session.id)
        # Its next append fails: none is acknowledged into a log that no longer exists.
        _, errors = writer.communicate(timeout=60)
        assert writer.returncode == 1
        assert "SessionNotFoundError" in errors
        assert deleted.event_count >= 1
        with pytest.raises(SessionNotFoundError):
            store.get_session(session.id)
        assert store.list_sessions(limit=None) == []
