"""``Backend.append_many``: several appends in one call, each all or none, each failing alone.

The async store hands a backend that commits several appends together (SQLite: one
transaction, one fsync) the appends of concurrent tasks at once; the others make them one
by one. Both must give what the same appends made one at a time give.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import agentstore
from agentstore import ConcurrencyError, SessionNotFoundError, Store, new_event
from agentstore.core.sequencing import prepare_batch
from agentstore.payloads import DEFAULT_MAX_PAYLOAD_BYTES

POSTGRES_URL = os.environ.get("AGENTSTORE_TEST_POSTGRES_URL", "")


@pytest.fixture(params=["memory", "jsonl", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "postgres" and not POSTGRES_URL:
        pytest.skip("set AGENTSTORE_TEST_POSTGRES_URL to run the PostgreSQL tests")
    schema = f"test_{uuid.uuid4().hex[:16]}"
    target = {
        "memory": ":memory:",
        "jsonl": str(tmp_path / "data"),
        "sqlite": str(tmp_path / "agent.db"),
        "postgres": f"{POSTGRES_URL}?schema={schema}",
    }[request.param]
    with agentstore.open(target) as opened:
        yield opened
    if request.param == "postgres":
        import psycopg

        with psycopg.connect(POSTGRES_URL, autocommit=True) as db:
            db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _events(*names: str) -> list[agentstore.Event]:
    return prepare_batch([new_event(name, {}) for name in names], DEFAULT_MAX_PAYLOAD_BYTES)


def test_each_append_stands_alone(store: Store) -> None:
    first, second = store.create_session().id, store.create_session().id
    store.append(first, new_event("before", {}))
    retried = _events("retried")
    outcomes = store.backend.append_many(
        [
            (first, _events("a", "b"), None),
            (second, _events("c"), 5),  # stale: fails alone
            ("no-such-session", _events("d"), None),
            (second, _events("e"), 0),
            (first, retried, None),
            (first, retried, None),  # the same event again: stored once
        ]
    )
    assert [e.seq for e in outcomes[0]] == [2, 3]  # type: ignore[union-attr]
    assert isinstance(outcomes[1], ConcurrencyError)
    assert isinstance(outcomes[2], SessionNotFoundError)
    assert [e.seq for e in outcomes[3]] == [1]  # type: ignore[union-attr]
    assert [e.seq for e in outcomes[4]] == [4] == [e.seq for e in outcomes[5]]  # type: ignore[union-attr]
    assert [e.type for e in store.get_events(first)] == ["before", "a", "b", "retried"]
    assert [e.type for e in store.get_events(second)] == ["e"]
