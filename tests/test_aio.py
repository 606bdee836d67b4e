"""The async face: the conformance suite on every backend, and what asyncio adds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentstore import Store
from agentstore.aio import AsyncStore
from agentstore.aio.backends import InlineBackend
from agentstore.testing import StoreConformance, StoreFactory
from agentstore.testing.async_face import LoopThread
from tests.test_memory_backend import _SharedMemory


@pytest.fixture
def loop() -> Iterator[LoopThread]:
    with LoopThread() as running:
        yield running


class TestAsyncMemoryBackend(StoreConformance):
    @pytest.fixture
    def open_store(self, loop: LoopThread) -> StoreFactory:
        backend = InlineBackend(_SharedMemory())

        def open_store(**options: Any) -> Store:
            return loop.face(AsyncStore(backend, **options))

        return open_store


class TestAsyncJsonlBackend(StoreConformance):
    appends_per_writer = 40

    @pytest.fixture
    def open_store(self, loop: LoopThread, tmp_path: Path) -> StoreFactory:
        return lambda **options: loop.open(tmp_path / "agent-data", **options)


class TestAsyncSqliteBackend(StoreConformance):
    appends_per_writer = 40

    @pytest.fixture
    def open_store(self, loop: LoopThread, tmp_path: Path) -> StoreFactory:
        return lambda **options: loop.open(f"sqlite:///{tmp_path / 'agent.db'}", **options)
