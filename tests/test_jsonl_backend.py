"""The conformance suite on the JSONL directory backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import agentstore
from agentstore import Store
from agentstore.testing import StoreConformance, StoreFactory


class TestJsonlBackend(StoreConformance):
    appends_per_writer = 40  # each append is fsync'd

    @pytest.fixture
    def open_store(self, tmp_path: Path) -> StoreFactory:
        def open_store(**options: Any) -> Store:
            return agentstore.open(tmp_path / "agent-data", **options)

        return open_store
