"""The conformance suite on the JSONL directory backend."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

import agentstore
from agentstore import Store
from agentstore.testing import StoreConformance, StoreFactory
from agentstore.testing.conformance import LogLines, OtherWriter, StoredData


def log_writer(root: Path) -> OtherWriter:
    """Lines added to a session's log as the Go library writes them: compact JSON."""

    def write(session_id: str, records: Sequence[Mapping[str, Any]]) -> None:
        lines = [
            json.dumps(record, ensure_ascii=False, separators=(",", ":")) for record in records
        ]
        with (root / "events" / f"{session_id}.jsonl").open("a", encoding="utf-8") as log:
            log.writelines(line + "\n" for line in lines)

    return write


def log_lines(root: Path) -> LogLines:
    """A session's log as lines, read or written in place, as a damaged disk or an editor would."""

    def lines(session_id: str, replacement: list[bytes] | None = None) -> list[bytes]:
        log = root / "events" / f"{session_id}.jsonl"
        if replacement is not None:
            log.write_bytes(b"".join(line + b"\n" for line in replacement))
        return log.read_bytes().splitlines()

    return lines


def directory_contents(root: Path) -> StoredData:
    """Every directory and file under ``root``, with each file's bytes."""

    def contents() -> dict[str, bytes | None]:
        return {
            str(path.relative_to(root)): None if path.is_dir() else path.read_bytes()
            for path in sorted(root.rglob("*"))
        }

    return contents


class TestJsonlBackend(StoreConformance):
    appends_per_writer = 40  # each append is fsync'd

    @pytest.fixture
    def open_store(self, tmp_path: Path) -> StoreFactory:
        def open_store(**options: Any) -> Store:
            return agentstore.open(tmp_path / "agent-data", **options)

        return open_store

    @pytest.fixture
    def write_as_another_program(self, tmp_path: Path) -> OtherWriter:
        return log_writer(tmp_path / "agent-data")

    @pytest.fixture
    def log_lines(self, tmp_path: Path) -> LogLines:
        return log_lines(tmp_path / "agent-data")

    @pytest.fixture
    def stored_data(self, tmp_path: Path) -> StoredData:
        return directory_contents(tmp_path / "agent-data")
