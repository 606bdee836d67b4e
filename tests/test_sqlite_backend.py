"""The conformance suite on the SQLite backend, and what is SQLite's own."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

import agentstore
from agentstore import Store, new_event
from agentstore.backends.sqlite import MIGRATIONS, SqliteBackend
from agentstore.testing import StoreConformance, StoreFactory


class TestSqliteBackend(StoreConformance):
    appends_per_writer = 40  # each append is a durable commit

    @pytest.fixture
    def open_store(self, tmp_path: Path) -> StoreFactory:
        def open_store(**options: Any) -> Store:
            return agentstore.open(f"sqlite:///{tmp_path / 'agent.db'}", **options)

        return open_store


def test_a_path_ending_in_db_is_sqlite(tmp_path: Path) -> None:
    with agentstore.open(tmp_path / "agents.db") as store:
        assert isinstance(store.backend, SqliteBackend)
        store.create_session(id="one")
    with sqlite3.connect(tmp_path / "agents.db") as db:
        assert db.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_payloads_are_queryable_json(tmp_path: Path) -> None:
    path = tmp_path / "agents.db"
    with agentstore.open(path) as store:
        sid = store.create_session().id
        store.append(sid, new_event("tool_called", {"tool": "search", "args": {"q": "BER"}}))
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT json_extract(payload, '$.args.q') FROM events").fetchone()
        assert row == ("BER",)


def test_synchronous_can_be_relaxed_but_not_mistyped(tmp_path: Path) -> None:
    with agentstore.open(tmp_path / "fast.db", synchronous="NORMAL") as store:
        assert store.create_session().event_count == 0
    with pytest.raises(agentstore.InvalidArgumentError, match="synchronous"):
        agentstore.open(tmp_path / "x.db", synchronous="OFF")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://agent.db", "three slashes"),
        ("sqlite:///b.db?mode=ro", "no host, query"),
        ("sqlite:///:memory:", "in-memory backend"),
        ("sqlite:///", "give a file"),
    ],
)
def test_sqlite_urls_are_checked(url: str, message: str) -> None:
    with pytest.raises(agentstore.InvalidArgumentError, match=message):
        agentstore.open(url)


def test_closing_while_threads_append_ends_them_cleanly(tmp_path: Path) -> None:
    import threading

    store = agentstore.open(tmp_path / "busy.db")
    sid = store.create_session().id
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for n in range(200):
                store.append(sid, new_event("step", {"n": n}))
        except agentstore.StoreClosedError:
            return
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    store.close()
    for thread in threads:
        thread.join(10)
    assert errors == []
    with agentstore.open(tmp_path / "busy.db") as reopened:
        events = reopened.get_events(sid)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))


def test_short_lived_threads_do_not_pile_up_connections(tmp_path: Path) -> None:
    import os
    import threading

    with agentstore.open(tmp_path / "threads.db") as store:
        sid = store.create_session().id
        before = len(os.listdir("/proc/self/fd"))
        for n in range(100):
            thread = threading.Thread(target=store.append, args=(sid, new_event("step", {"n": n})))
            thread.start()
            thread.join()
        assert len(os.listdir("/proc/self/fd")) < before + 20
