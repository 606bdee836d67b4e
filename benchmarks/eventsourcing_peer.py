"""The eventsourcing library's SQLite and PostgreSQL recorders doing bench_sql.py's work.

Run by ``benchmarks/bench_sql.py --peer-python PYTHON`` with an interpreter that has
``eventsourcing`` (and psycopg) installed: the peer is installed for the benchmark only,
never as a dependency. Prints one JSON object of figures.

Usage: ``PYTHON benchmarks/eventsourcing_peer.py DIR [POSTGRES_URL]``.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import uuid
from typing import Any
from urllib.parse import urlparse

from eventsourcing.persistence import StoredEvent  # type: ignore[import-not-found]
from eventsourcing.postgres import (  # type: ignore[import-not-found]
    PostgresAggregateRecorder,
    PostgresDatastore,
)
from eventsourcing.sqlite import (  # type: ignore[import-not-found]
    SQLiteAggregateRecorder,
    SQLiteDatastore,
)

STATE = json.dumps({"tool": "search_flights", "query": "BER → MUC", "n": 0}).encode()


def _appends(recorder: Any, count: int) -> float:
    originator = uuid.uuid4()
    started = time.perf_counter()
    for version in range(1, count + 1):
        event = StoredEvent(originator, version, "ToolCalled", STATE)
        recorder.insert_events([event])
    return count / (time.perf_counter() - started)


def _replay(recorder: Any) -> float:
    originator = uuid.uuid4()
    recorder.insert_events(
        [StoredEvent(originator, v, "ToolCalled", STATE) for v in range(1, 1001)]
    )
    times = []
    for _ in range(20):
        started = time.perf_counter()
        recorder.select_events(originator)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    directory = sys.argv[1]
    figures: dict[str, float] = {}
    sqlite = SQLiteAggregateRecorder(SQLiteDatastore(os.path.join(directory, "peer.db")))
    sqlite.create_table()
    figures["sqlite_append"] = statistics.median(_appends(sqlite, 500) for _ in range(3))
    figures["sqlite_replay_ms"] = _replay(sqlite) * 1e3
    if len(sys.argv) > 2:
        url = urlparse(sys.argv[2])
        schema = f"peer_{uuid.uuid4().hex[:10]}"
        datastore = PostgresDatastore(
            url.path.lstrip("/"),
            url.hostname or "localhost",
            url.port or 5432,
            url.username or "postgres",
            url.password or "",
            schema=schema,
        )
        with datastore.transaction(commit=True) as cursor:
            cursor.execute(f"CREATE SCHEMA {schema}")
        postgres = PostgresAggregateRecorder(datastore)
        postgres.create_table()
        figures["postgres_append"] = statistics.median(_appends(postgres, 500) for _ in range(3))
        figures["postgres_replay_ms"] = _replay(postgres) * 1e3
        with datastore.transaction(commit=True) as cursor:
            cursor.execute(f"DROP SCHEMA {schema} CASCADE")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
