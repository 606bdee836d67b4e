"""The conformance suite on the in-memory backend."""

from __future__ import annotations

from typing import Any

import pytest

import agentstore
from agentstore import Store
from agentstore.backends import MemoryBackend
from agentstore.testing import StoreConformance, StoreFactory


class _SharedMemory(MemoryBackend):
    """One memory backend behind several stores, as a directory or database would be."""

    def close(self) -> None:
        """Keep the data for the next store; each store still ends its own watchers."""


class TestMemoryBackend(StoreConformance):
    @pytest.fixture
    def open_store(self) -> StoreFactory:
        backend = _SharedMemory()

        def open_store(**options: Any) -> Store:
            return Store(backend, **options)

        return open_store


def test_open_memory_gives_a_fresh_store_each_time() -> None:
    with agentstore.open(":memory:") as one, agentstore.open(":memory:") as two:
        one.create_session(id="only-in-one")
        assert [s.id for s in one.list_sessions()] == ["only-in-one"]
        assert two.list_sessions() == []


def test_closing_the_store_closes_its_memory_backend() -> None:
    store = agentstore.open(":memory:")
    session = store.create_session()
    store.close()
    feed = store.backend.subscribe(session.id)
    assert feed.wait(timeout=0) is None
