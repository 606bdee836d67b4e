"""The demo and the benchmark run as a user runs them, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .test_docs import mask

ROOT = Path(__file__).parent.parent


def _run(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def test_the_demo_records_and_replays_a_session(tmp_path: Path) -> None:
    out = _run(str(ROOT / "examples" / "demo.py"), cwd=tmp_path)
    assert "9 events, 850 tokens in / 320 out, $0.00532, 2 tool calls, 1 error" in out
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = readme.split("$ agentstore replay ")[1].split("\n\n")[0].splitlines()[1:]
    replayed = out.split("$ agentstore replay ")[1].split("\n\n")[0].splitlines()[1:]
    assert [mask(line) for line in replayed] == [mask(line) for line in shown]
    listed = _run("-m", "agentstore", "sessions", cwd=tmp_path)
    assert mask(listed) == mask(readme.split("$ agentstore sessions\n")[1].split("```")[0])


def test_the_openai_agents_example_records_a_run_and_replays_it(tmp_path: Path) -> None:
    out = _run(str(ROOT / "examples" / "openai_agents_agent.py"), "data", cwd=tmp_path)
    assert "Agent: It is sunny and 21 °C in Paris." in out
    replayed = out.split("$ agentstore replay weather-chat\n")[1].splitlines()
    assert any("tool_result" in line and "get_weather" in line for line in replayed)
    assert "2,560 tokens (2,400 in / 160 out), $0.0076, 1 tool call, 0 errors" in replayed[-1]


def test_the_langchain_example_records_an_agent_and_replays_it(tmp_path: Path) -> None:
    out = _run(str(ROOT / "examples" / "langchain_agent.py"), "data", cwd=tmp_path)
    replayed = out.split("$ agentstore --store data replay ")[1]
    assert 'search_flights(route="BER-MUC")' in replayed
    assert "120 in / 20 out" in replayed
    assert "370 tokens (320 in / 50 out), $0.0013, 1 tool call, 0 errors" in replayed


def test_the_benchmark_prints_its_table(tmp_path: Path) -> None:
    out = _run(str(ROOT / "benchmarks" / "bench_memory.py"), "--quick", cwd=tmp_path)
    header = out.splitlines()[2]
    assert header.split()[:2] == ["benchmark", "ops/s"]
    for name in [
        "floor (payload + dataclass + list + lock)",
        "append (new_event in the loop)",
        "get_state 1000 ev, snapshot @100",
        "get_state 10 ev, no snapshot",
        "get_state 100 ev, no snapshot",
        "get_state 1000 ev, no snapshot",
        "replay 1000 events",
        "new_event",
    ]:
        assert name in out


def test_the_opentelemetry_benchmark_measures_both_ways(tmp_path: Path) -> None:
    out = _run(str(ROOT / "benchmarks" / "bench_otel.py"), "--quick", cwd=tmp_path)
    rates = {
        line[:42].strip(): line[42:].split()[1] for line in out.splitlines() if line[:1].isalpha()
    }
    for name in [
        "export_sessions -> in memory",
        "export_sessions -> OTLP/HTTP, local",
        "record: processor -> JSONL",
        "agent runs, instrumented",
    ]:
        assert float(rates[name].replace(",", "")) > 0, name


def test_the_langgraph_benchmark_measures_the_saver_on_files(tmp_path: Path) -> None:
    out = _run(str(ROOT / "benchmarks" / "bench_langgraph.py"), "--quick", cwd=tmp_path)
    table = [line.split("|") for line in out.splitlines() if line.startswith("| AgentStore")]
    rows = {cells[1].strip(): cells[2:] for cells in table}
    for saver in ["AgentStoreSaver JSONL", "AgentStoreSaver SQLite"]:
        size, rate = rows[saver][0].split()[0], rows[saver][1]
        assert float(size) >= 0, saver
        assert float(rate.replace(",", "")) > 0, saver


def test_the_recording_benchmark_compares_each_helper_with_plain_appends(tmp_path: Path) -> None:
    out = _run(str(ROOT / "benchmarks" / "bench_recording.py"), "--quick", cwd=tmp_path)
    rows = {line[:34].strip(): line[34:].split() for line in out.splitlines()[3:]}
    assert list(rows) == [
        "user_message",
        "tool call (context manager)",
        "tool call (decorator)",
        "llm call, cost given",
        "llm call, priced by genai-prices",
    ]
    for plain, helper, ratio, *_ in rows.values():
        assert float(helper) / float(plain) == pytest.approx(float(ratio[:-1]), rel=0.05)


def test_the_crash_torture_finds_nothing_lost(tmp_path: Path) -> None:
    out = _run(
        str(ROOT / "benchmarks" / "crash_torture.py"),
        "--kills",
        "3",
        "--dir",
        str(tmp_path),
        cwd=tmp_path,
    )
    assert "3 kills" in out
    assert "none lost, seqs gapless" in out


# The benchmarks that take a directory: each prints its rows (PostgreSQL's with a server).
BENCHMARK_ROWS = {
    "bench_jsonl.py": (
        [
            "disk: write + fdatasync of one line",
            "append, 1 thread, new session",
            "append, 8 threads, one session",
            "append, 8 threads, 8 sessions",
            "append_batch of 100",
            "get_state, 1000 events, snapshot, fresh store",
            "replay of 1000 events, fresh store",
            "open + list 150 sessions",
        ],
        None,
    ),
    "bench_sql.py": (
        [
            "SQLite append, 1 thread",
            "SQLite append_batch of 100",
            "SQLite replay of 1000 events, fresh",
        ],
        "PostgreSQL append, 2 processes, 2 sessions",
    ),
    "bench_cli.py": (
        [
            "agentstore --version (start-up)",
            "JSONL: sessions --limit 0 (120 rows)",
            "JSONL: replay (1,200 events, timeline)",
            "SQLite: stats",
        ],
        None,
    ),
    "bench_async.py": (
        [
            "memory append, µs",
            "JSONL append, 8 writers, events/s",
            "SQLite append, 8 writers, events/s",
        ],
        "PostgreSQL append, 8 writers, events/s",
    ),
    "bench_streaming.py": (
        [
            "JSONL: iter_events",
            "JSONL: get_events",
            "SQLite: agentstore replay --format jsonl",
            "memory: iter_events (added to the store)",
        ],
        None,
    ),
    "bench_server.py": (
        [
            "JSONL: in-process, 32 threads",
            "JSONL: HTTP, 32 threads, a client each",
            "SQLite: HTTP, 32 async tasks, one client",
            "SQLite: HTTP raw GET /replay",
            "server memory per idle watcher, KB",
            "delivery delay p99, ms",
            "delivered / expected",
        ],
        None,
    ),
    "bench_peers.py": (
        ["Store.append, SQLite", "Store.get_events, SQLite"],
        "Store.append, PostgreSQL",
    ),
    "bench_ui.py": (
        [
            "page weight, KB",
            "first contentful paint, ms",
            "session: first rows shown, ms",
            "session: every event loaded, ms",
            "scroll: 95th percentile frame, ms",
            "sessions list: first rows shown, ms",
        ],
        None,
    ),
}


@pytest.mark.parametrize("script", sorted(BENCHMARK_ROWS))
def test_each_benchmark_prints_its_figures(script: str, tmp_path: Path) -> None:
    out = _run(str(ROOT / "benchmarks" / script), "--quick", "--dir", str(tmp_path), cwd=tmp_path)
    rows, postgres_row = BENCHMARK_ROWS[script]
    for name in rows:
        assert name in out
    if postgres_row and os.environ.get("AGENTSTORE_TEST_POSTGRES_URL"):
        assert postgres_row in out
