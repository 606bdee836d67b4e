"""Programs the session lifecycle's process tests run as real subprocesses.

python tests/lifecycle_workers.py get-or-create TARGET SESSION NAME
    create the session unless it exists (exist_ok); print its name and creation time
python tests/lifecycle_workers.py delete-killed TARGET SESSION POINT
    delete the session; the process kills itself (SIGKILL) at POINT of the deletion, or
    prints "deleted" if the deletion got past it. POINT is, for a JSONL directory, the
    number of the file change (a removal or a directory sync) before which it dies; for
    a database, the table of the DELETE statement (or COMMIT) before which it dies.
python tests/lifecycle_workers.py serve TARGET
    fork a process running one of these commands for each line of stdin that asks for
    one, as ``python tests/workers.py serve`` does
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

import agentstore
from agentstore import Store
from agentstore.backends.jsonl.backend import JsonlBackend
from agentstore.backends.jsonl.files import Files
from agentstore.backends.sqlite import SqliteBackend

_SQLITE = "sqlite:///"


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def get_or_create(target: str, session_id: str, name: str) -> None:
    options = json.loads(os.environ.get("AGENTSTORE_TEST_OPTIONS", "{}"))
    with agentstore.open(target, **options) as store:
        session = store.create_session(id=session_id, name=name, exist_ok=True)
        answer = json.dumps([session.name, session.created_at.isoformat()])
        sys.stdout.write(f"{answer}\n")  # one write: forked processes share a pipe
        sys.stdout.flush()


class _KilledFiles(Files):
    """The file layer of a process that dies before its ``point``-th file change."""

    def __init__(self, temporary_dir: str, point: int) -> None:
        super().__init__(temporary_dir)
        self.point = point
        self.armed = False
        self.changes = 0

    def _change(self) -> None:
        if self.armed:
            self.changes += 1
            if self.changes == self.point:
                _die()

    def remove(self, path: str) -> None:
        self._change()
        super().remove(path)

    def sync_dir(self, path: str) -> None:
        self._change()
        super().sync_dir(path)

    def rename(self, source: str, target: str) -> None:
        self._change()
        super().rename(source, target)

    def write_file(self, path: str, data: bytes, *, exclusive: bool = False) -> bool:
        self._change()
        return super().write_file(path, data, exclusive=exclusive)


class _KilledSqlite(SqliteBackend):
    """A SQLite backend whose process dies before a statement starting with ``point``."""

    point = ""
    armed = False

    def _connect(self) -> sqlite3.Connection:
        db = super()._connect()
        db.set_trace_callback(self._trace)
        return db

    def _trace(self, statement: str) -> None:
        if self.armed and statement.startswith(self.point):
            _die()


def delete_killed(target: str, session_id: str, point: str) -> None:
    if target.startswith(_SQLITE):
        _KilledSqlite.point = point
        store = Store(_KilledSqlite(target[len(_SQLITE) :]))
        arm: Any = lambda: setattr(_KilledSqlite, "armed", True)  # noqa: E731
    elif target.startswith("postgresql://"):
        store = agentstore.open(target, **json.loads(os.environ["AGENTSTORE_TEST_OPTIONS"]))
        arm = lambda: _kill_postgres_before(point)  # noqa: E731
    else:
        files = _KilledFiles(os.path.join(target, "tmp"), int(point))
        store = Store(JsonlBackend(target, files=files))
        arm = lambda: setattr(files, "armed", True)  # noqa: E731
    with store:
        arm()
        store.delete_session(session_id)
        print("deleted", flush=True)


def _kill_postgres_before(table: str) -> None:
    """Die before the DELETE statement of ``table`` is sent (inside the transaction)."""
    from agentstore.backends.postgres import backend

    fetch = backend._fetch

    def fetch_or_die(db: Any, query: Any) -> Any:
        text = bytes(query.statement)
        if text.startswith(b"DELETE FROM") and f".{table} ".encode() in text:
            _die()
        return fetch(db, query)

    backend._fetch = fetch_or_die


def run(command: str, args: list[str]) -> None:
    if command == "get-or-create":
        get_or_create(args[0], args[1], args[2])
    elif command == "delete-killed":
        delete_killed(args[0], args[1], args[2])
    elif command == "serve":
        sys.path.insert(0, str(Path(__file__).parent.parent))
        from tests.workers import serve

        serve(args[0], run)
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2:])
