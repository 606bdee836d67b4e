"""AgentStoreSaver against LangGraph's SqliteSaver: a 300-turn conversation.

Each turn appends a user and an assistant message of 200 characters to a
``messages`` channel (600 messages at the end) and puts a checkpoint, as LangGraph
does after a step. Reported: the store's size on disk, turns per second, and the
median and 95th percentile of ``get_tuple`` of the latest checkpoint. SqliteSaver runs
in the same process when ``langgraph-checkpoint-sqlite`` is importable (for example with
``PYTHONPATH=.venv-peers/lib/python3.11/site-packages``).

    python benchmarks/bench_langgraph.py [--turns 300]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver

from agentstore.integrations.langgraph import AgentStoreSaver


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def converse(saver: BaseCheckpointSaver[Any], turns: int) -> float:
    """Put ``turns`` checkpoints of a growing conversation; return the seconds taken."""
    config: RunnableConfig = {"configurable": {"thread_id": "chat", "checkpoint_ns": ""}}
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


def row(name: str, path: Path, saver: BaseCheckpointSaver[Any], turns: int) -> str:
    seconds = converse(saver, turns)
    timings = sorted(latencies(saver))
    p95 = timings[int(len(timings) * 0.95)]
    return (
        f"| {name} | {_size(path) / 1e6:.2f} MB | {turns / seconds:.0f} | "
        f"{statistics.median(timings):.3f} ms | {p95:.3f} ms |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="10 turns, to check it works")
    args = parser.parse_args()
    turns = 10 if args.quick else args.turns
    print("| saver | size | turns/s | get_tuple median | p95 |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for name, target in (("AgentStoreSaver JSONL", "data"), ("AgentStoreSaver SQLite", "s.db")):
            with AgentStoreSaver.from_url(root / target) as saver:
                print(row(name, root / target, saver, turns))
        try:
            from langgraph.checkpoint.sqlite import SqliteSaver  # type: ignore[import-not-found]
        except ImportError:
            print("(SqliteSaver not importable: langgraph-checkpoint-sqlite is not installed)")
            return
        with SqliteSaver.from_conn_string(str(root / "peer.db")) as peer:
            print(row("SqliteSaver", root / "peer.db", peer, turns))


if __name__ == "__main__":
    main()
