"""AgentStoreSaver against LangGraph's SqliteSaver and PostgresSaver: a 300-turn conversation.

Each turn appends a user and an assistant message of 200 characters to a
``messages`` channel (600 messages at the end) and puts a checkpoint, as LangGraph
does after a step. Reported, per saver and store: the size of the store, turns per second,
the median and 95th percentile of ``get_tuple`` of the latest checkpoint, and the median
of reading the first checkpoint of the thread in a fresh process (the saver's first call
there, so nothing of the thread is cached by it). Then, on one saver shared by 8 Python
threads, each running a LangGraph thread of its own: turns per second of them all.

The peers run in the same process when importable, else in the interpreter of
``.venv-peers`` (``--peer-python``), where ``langgraph-checkpoint-sqlite`` and
``langgraph-checkpoint-postgres`` are installed for the benchmark only. PostgreSQL
(``--postgres`` or ``AGENTSTORE_TEST_POSTGRES_URL``) is measured when given, each saver
in a schema of its own, dropped at the end.

    python benchmarks/bench_langgraph.py [--turns 300] [--postgres URL] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver

HERE = Path(__file__).parent
PEER_PYTHON = HERE.parent / ".venv-peers" / "bin" / "python"
THREADS = 8


def _size(path: Path) -> int:
    """Bytes of a directory's files, or of a SQLite file with its write-ahead log."""
    if path.is_file():
        wal = path.with_name(path.name + "-wal")
        return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _postgres_size(url: str, schema: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        row = db.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relkind = 'r'",
            [schema],
        ).fetchone()
    return int(row[0]) if row else 0


@contextlib.contextmanager
def open_saver(kind: str, target: str) -> Iterator[BaseCheckpointSaver[Any]]:
    """A saver: ``agentstore`` over the store at ``target`` (a path or a PostgreSQL URL),
    ``sqlite`` (SqliteSaver, a file) or ``postgres`` (PostgresSaver, ``URL#schema``)."""
    if kind == "agentstore":
        from agentstore.integrations.langgraph import AgentStoreSaver

        with AgentStoreSaver.from_url(target) as saver:
            yield saver
    elif kind == "sqlite":
        from langgraph.checkpoint.sqlite import SqliteSaver  # type: ignore[import-not-found]

        with SqliteSaver.from_conn_string(target) as peer:
            yield peer
    else:
        import psycopg
        from langgraph.checkpoint.postgres import PostgresSaver  # type: ignore[import-not-found]
        from psycopg.rows import dict_row

        url, schema = target.split("#")
        with psycopg.connect(
            url,
            autocommit=True,
            prepare_threshold=0,
            row_factory=dict_row,
            options=f"-c search_path={schema}",
        ) as connection:
            peer = PostgresSaver(connection)
            peer.setup()
            yield peer


def converse(saver: BaseCheckpointSaver[Any], turns: int, thread_id: str = "chat") -> float:
    """Put ``turns`` checkpoints of a growing conversation; return the seconds taken."""
    config: RunnableConfig = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    messages: list[BaseMessage] = []
    version: Any = None
    started = time.perf_counter()
    for turn in range(turns):
        messages = [
            *messages,
            HumanMessage("q" * 200, id=f"h{turn}"),
            AIMessage("a" * 200, id=f"a{turn}"),
        ]
        version = saver.get_next_version(version, None)
        checkpoint: Any = {
            "v": 4,
            "id": f"1f0{turn:010d}",
            "ts": "2025-01-01T00:00:00+00:00",
            "channel_values": {"messages": messages},
            "channel_versions": {"messages": version},
            "versions_seen": {"agent": {"messages": version}},
            "updated_channels": ["messages"],
        }
        config = saver.put(
            config, checkpoint, {"source": "loop", "step": turn}, {"messages": version}
        )
    return time.perf_counter() - started


def latencies(saver: BaseCheckpointSaver[Any], rounds: int = 200) -> list[float]:
    """Milliseconds of each ``get_tuple`` of the latest checkpoint."""
    config: RunnableConfig = {"configurable": {"thread_id": "chat"}}
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        assert saver.get_tuple(config) is not None
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def concurrent(saver: BaseCheckpointSaver[Any], turns: int) -> float:
    """Turns per second of :data:`THREADS` Python threads, each conversing on its own thread."""
    workers = [
        threading.Thread(target=converse, args=(saver, turns, f"worker-{n}"))
        for n in range(THREADS)
    ]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return THREADS * turns / (time.perf_counter() - started)


def measure(kind: str, target: str, turns: int, concurrent_turns: int) -> dict[str, float]:
    """The figures of one saver over a new store at ``target``: the conversation's rate,
    its latest checkpoint's reads, its size once the saver is closed (a SQLite file's
    log folded into it), then the rate of threads on the same saver."""
    with open_saver(kind, target) as saver:
        seconds = converse(saver, turns)
        timings = sorted(latencies(saver))
    figures = {
        "rate": turns / seconds,
        "median": statistics.median(timings),
        "p95": timings[int(len(timings) * 0.95)],
    }
    if kind != "postgres" and not target.startswith("postgresql"):
        figures["size"] = _size(Path(target))  # the conversation's alone: threads follow
    if concurrent_turns:
        with open_saver(kind, target) as saver:
            figures["concurrent"] = concurrent(saver, concurrent_turns)
    return figures


def cold_read(kind: str, target: str) -> float:
    """Milliseconds of reading the thread's first checkpoint, the saver's first call."""
    config: RunnableConfig = {
        "configurable": {
            "thread_id": "chat",
            "checkpoint_ns": "",
            "checkpoint_id": "1f0" + "0" * 10,
        }
    }
    with open_saver(kind, target) as saver:
        started = time.perf_counter()
        found = saver.get_tuple(config)
        elapsed = (time.perf_counter() - started) * 1000
    assert found is not None
    assert found.checkpoint["channel_values"]["messages"]
    return elapsed


def _python(kind: str, peer_python: Path) -> str | None:
    """The interpreter to run a saver in: this one when it can, else the peers' (or None)."""
    module = {"agentstore": "agentstore", "sqlite": "langgraph.checkpoint.sqlite"}
    name = module.get(kind, "langgraph.checkpoint.postgres")
    with contextlib.suppress(ModuleNotFoundError):
        if importlib.util.find_spec(name) is not None:
            return sys.executable
    return str(peer_python) if peer_python.exists() else None


def _call(python: str, *args: str) -> Any:
    """Run this script with ``args`` in ``python``; its printed JSON."""
    done = subprocess.run(
        [python, __file__, *args], capture_output=True, text=True, check=False, timeout=900
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr else "failed")
    return json.loads(done.stdout)


@contextlib.contextmanager
def _schema(url: str) -> Iterator[str]:
    """A new PostgreSQL schema, dropped at the end."""
    import psycopg

    name = f"bench_lg_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {name}")
    try:
        yield name
    finally:
        with psycopg.connect(url, autocommit=True) as db:
            db.execute(f"DROP SCHEMA {name} CASCADE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--concurrent-turns", type=int, default=50, help="turns per thread")
    parser.add_argument("--cold-runs", type=int, default=5, help="fresh processes per saver")
    parser.add_argument("--postgres", default=os.environ.get("AGENTSTORE_TEST_POSTGRES_URL"))
    parser.add_argument("--peer-python", type=Path, default=PEER_PYTHON)
    parser.add_argument("--quick", action="store_true", help="a few turns, to check it works")
    parser.add_argument("--measure", nargs=2, metavar=("KIND", "TARGET"), help=argparse.SUPPRESS)
    parser.add_argument("--cold", nargs=2, metavar=("KIND", "TARGET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        kind, target = args.measure
        print(json.dumps(measure(kind, target, args.turns, args.concurrent_turns)))
        return
    if args.cold:
        kind, target = args.cold
        print(json.dumps(cold_read(kind, target)))
        return
    turns, threaded, cold_runs = args.turns, args.concurrent_turns, args.cold_runs
    if args.quick:
        turns, threaded, cold_runs = 10, 3, 1
    with tempfile.TemporaryDirectory() as scratch, contextlib.ExitStack() as schemas:
        root = Path(scratch)
        savers = [
            ("AgentStoreSaver JSONL", "agentstore", str(root / "data"), True),
            ("AgentStoreSaver SQLite", "agentstore", str(root / "s.db"), True),
            ("SqliteSaver", "sqlite", str(root / "peer.db"), True),
        ]
        if args.postgres and not args.quick:
            ours = schemas.enter_context(_schema(args.postgres))
            theirs = schemas.enter_context(_schema(args.postgres))
            savers += [
                (
                    "AgentStoreSaver PostgreSQL",
                    "agentstore",
                    f"{args.postgres}?schema={ours}",
                    False,
                ),
                ("PostgresSaver", "postgres", f"{args.postgres}#{theirs}", False),
            ]
        print(f"A {turns}-turn conversation, then {THREADS} threads of {threaded} turns each:")
        print()
        print(
            "| saver | size | turns/s | get_tuple median | p95 | first checkpoint, fresh process |"
        )
        print("|---|---|---|---|---|---|")
        rates: list[tuple[str, float]] = []
        for name, kind, target, shared in savers:
            python = _python(kind, args.peer_python)
            if python is None:
                print(f"({name} not measured: its package is not installed)")
                continue
            try:
                figures = _call(
                    python,
                    "--measure",
                    kind,
                    target,
                    "--turns",
                    str(turns),
                    "--concurrent-turns",
                    str(threaded if shared else 0),
                )
                cold = [_call(python, "--cold", kind, target) for _ in range(cold_runs)]
            except RuntimeError as error:
                print(f"({name} not measured: {error})")
                continue
            if "size" in figures:
                size = figures["size"]
            else:  # PostgreSQL, whose threads write to another schema
                schema = target.rsplit("#", 1)[-1].rsplit("=", 1)[-1]
                size = _postgres_size(args.postgres, schema)
            print(
                f"| {name} | {size / 1e6:.2f} MB | {figures['rate']:.0f} | "
                f"{figures['median']:.3f} ms | {figures['p95']:.3f} ms | "
                f"{statistics.median(cold):.1f} ms |"
            )
            if "concurrent" in figures:
                rates.append((name, figures["concurrent"]))
        print()
        print(f"| {THREADS} threads on one saver | turns/s |")
        print("|---|---|")
        for name, rate in rates:
            print(f"| {name.replace('AgentStoreSaver', 'AgentStoreSaver,')} | {rate:.0f} |")


if __name__ == "__main__":
    main()
