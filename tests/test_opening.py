"""Opening a store: what ``agentstore.open`` and ``agentstore.aio.open`` take, say and make.

Their help lists every backend's options; the async opening is a coroutine (``await`` it,
``asyncio.run`` it) and an async context manager; a URL's query takes only what is known;
a password in a URL is never shown; SQLite files are as private as JSONL files.
"""

from __future__ import annotations

import asyncio
import inspect
import stat
from pathlib import Path
from typing import Any

import pytest

import agentstore
import agentstore.aio
from agentstore import InvalidArgumentError, new_event
from agentstore.aio import AsyncStore
from agentstore.backends.jsonl import JsonlBackend
from agentstore.backends.sqlite import SqliteBackend
from agentstore.backends.targets import masked

_HOOKS = {"files", "read_only"}  # a test's file layer; read_only is documented on its own


def _options(backend: type) -> list[str]:
    parameters = inspect.signature(backend).parameters.values()
    return [p.name for p in parameters if p.kind is p.KEYWORD_ONLY and p.name not in _HOOKS]


def _backend_options() -> list[str]:
    postgres = pytest.importorskip("agentstore.backends.postgres")
    kinds: list[type] = [JsonlBackend, SqliteBackend, postgres.PostgresBackend]
    return sorted({name for kind in kinds for name in _options(kind)})


@pytest.mark.parametrize(
    ("opener", "extra"), [(agentstore.open, []), (agentstore.aio.open, ["workers"])]
)
def test_the_help_of_open_lists_every_backends_options(opener: Any, extra: list[str]) -> None:
    text = inspect.getdoc(opener) or ""
    for name in [*_backend_options(), *extra, "read_only", "snapshot_interval", "reducer"]:
        assert f"``{name}``" in text or f"{name}:" in text, name
    for target in ("sqlite:///", "postgresql://", ":memory:"):
        assert target in text


# The async opening: awaited, run, or used with async with.


def test_asyncio_run_of_an_opening_returns_the_store(tmp_path: Path) -> None:
    store = asyncio.run(agentstore.aio.open(tmp_path / "data"))
    assert isinstance(store, AsyncStore)
    asyncio.run(store.aclose())
    assert store.closed
    with asyncio.Runner() as runner:  # a loop kept for the store's calls
        store = runner.run(agentstore.aio.open(tmp_path / "data"))
        session = runner.run(store.create_session(name="run"))
        assert runner.run(store.append(session.id, new_event("step"))).seq == 1
        runner.run(store.aclose())
    with agentstore.open(tmp_path / "data") as reopened:
        assert reopened.get_session(session.id).event_count == 1


def test_an_in_memory_store_opened_by_asyncio_run_answers_on_any_loop() -> None:
    store = asyncio.run(agentstore.aio.open(":memory:"))

    async def use() -> int:
        session = await store.create_session()
        return (await store.append(session.id, new_event("step"))).seq

    assert asyncio.run(use()) == 1
    asyncio.run(store.aclose())


def test_an_opening_is_awaited_or_entered_and_leaves_no_coroutine_behind(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        store = await agentstore.aio.open(tmp_path / "data")
        await store.aclose()
        async with agentstore.aio.open(tmp_path / "data") as entered:
            assert await entered.list_sessions() == []
        assert entered.closed
        task = asyncio.create_task(agentstore.aio.open(tmp_path / "data"))
        await (await task).aclose()

    asyncio.run(scenario())  # warnings are errors: a coroutine never awaited would fail here


def test_a_failed_opening_run_by_asyncio_raises_its_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="workers"):
        asyncio.run(agentstore.aio.open(tmp_path / "data", workers=0))


# A URL's query: agentstore's options and the driver's, nothing else.


def test_an_unknown_query_parameter_of_a_sqlite_url_is_refused_with_what_is_accepted(
    tmp_path: Path,
) -> None:
    with pytest.raises(InvalidArgumentError) as refused:
        agentstore.open(f"sqlite:///{tmp_path / 'agent.db'}?bogus=1")
    for name in ("bogus", "synchronous", "busy_timeout", "poll_interval"):
        assert name in str(refused.value)
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_query_parameter_of_a_postgresql_url_is_refused_with_what_is_accepted() -> None:
    pytest.importorskip("psycopg")
    url = "postgresql://agent:s3cret@127.0.0.1:1/agents?schema=runs&scheme=x&sslmode=require"
    with pytest.raises(InvalidArgumentError) as refused:
        agentstore.open(url)
    message = str(refused.value)
    assert "unknown URL query parameter scheme" in message
    for accepted in ("schema", "partitions", "sslmode", "connect_timeout", "application_name"):
        assert accepted in message
    assert "s3cret" not in message
    with pytest.raises(InvalidArgumentError, match="scheme"):
        asyncio.run(agentstore.aio.open(url))


def test_a_malformed_postgresql_url_is_an_invalid_argument() -> None:
    pytest.importorskip("psycopg")
    with pytest.raises(InvalidArgumentError) as refused:
        agentstore.open("postgresql://agent:s3cret@[::1/agents")
    assert "s3cret" not in str(refused.value)


# Passwords: masked wherever a URL is shown.


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("postgresql://agent:s3cret@db:5432/agents", "postgresql://agent:***@db:5432/agents"),
        ("postgres://agent:p@ss@db/agents?schema=x", "postgres://agent:***@db/agents?schema=x"),
        ("postgresql://agent@db/agents?password=s3cret&sslmode=x", "password=***&sslmode=x"),
        ("postgresql://:s3cret@db/agents", "postgresql://:***@db/agents"),
        ("./agent-data", "./agent-data"),
        ("postgresql://agent@db/agents", "postgresql://agent@db/agents"),
    ],
)
def test_a_password_in_a_url_is_masked(text: str, shown: str) -> None:
    assert shown in masked(text)
    assert "s3cret" not in masked(text)


def test_an_error_about_a_target_does_not_show_its_password() -> None:
    with pytest.raises(InvalidArgumentError) as refused:
        agentstore.open("postgresq://agent:s3cret@db/agents")
    assert "postgresq://agent:***@db/agents" in str(refused.value)
    assert "s3cret" not in str(refused.value)


# Files created private, on every backend that makes files.


def test_a_new_sqlite_database_and_its_journal_are_owner_only_as_jsonl_files_are(
    tmp_path: Path,
) -> None:
    with agentstore.open(tmp_path / "agent.db") as store:
        session = store.create_session()
        store.append(session.id, new_event("step"))
        made = sorted(tmp_path.glob("agent.db*"))
        assert [path.name for path in made] == ["agent.db", "agent.db-shm", "agent.db-wal"]
        for path in made:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    with agentstore.open(tmp_path / "agent-data") as store:
        store.create_session(id="one")
    assert stat.S_IMODE((tmp_path / "agent-data" / "sessions" / "one.json").stat().st_mode) == (
        0o600
    )
