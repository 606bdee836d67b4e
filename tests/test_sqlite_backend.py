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
