"""AgentStoreSaver: LangGraph's conformance suite, the sync methods, and a real graph.

The conformance suite (langgraph-checkpoint-conformance) runs the async methods on every
backend; the sync methods have scenarios of their own; a StateGraph with a tool node and
a fake chat model runs, is interrupted, resumes in another process and time-travels.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.graph import START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode, tools_condition

import agentstore
import agentstore.aio
from agentstore.integrations.langgraph import CHECKPOINT, AgentStoreSaver, session_id_of
from tests.conftest import POSTGRES

ROOT = Path(__file__).parent.parent


def _targets(tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    targets = {
        "memory": ":memory:",
        "jsonl": str(tmp_path / "data"),
        "sqlite": str(tmp_path / "store.db"),
    }
    if POSTGRES:
        schema = request.getfixturevalue("postgres_schema")
        targets["postgres"] = f"{POSTGRES}?schema={schema}"
    return targets


@pytest.fixture(params=["memory", "jsonl", "sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store target on each backend (PostgreSQL with AGENTSTORE_TEST_POSTGRES_URL)."""
    if request.param == "postgres" and not POSTGRES:
        pytest.skip("set AGENTSTORE_TEST_POSTGRES_URL to run the PostgreSQL tests")
    return _targets(tmp_path, request)[request.param]


# The conformance suite


def _conformance(make: Callable[[], Any]) -> dict[str, Any]:
    @checkpointer_test(name="AgentStoreSaver")
    async def saver() -> AsyncIterator[BaseCheckpointSaver[str]]:
        made = await make()
        yield made
        if isinstance(made.store, agentstore.aio.AsyncStore):
            await made.store.aclose()
        else:
            made.close()

    async def validated() -> dict[str, Any]:
        report = await validate(saver)
        return dict(report.results)

    return asyncio.run(validated())


def _assert_all_passed(results: dict[str, Any]) -> None:
    failures = {cap: r.failures for cap, r in results.items() if r.passed is not True}
    assert failures == {}
    assert len(results) == 8  # base and extended capabilities, all detected


def test_conformance_over_a_store(target: str) -> None:
    async def make() -> AgentStoreSaver:
        return AgentStoreSaver.from_url(target)

    _assert_all_passed(_conformance(make))


def test_conformance_over_an_async_store(target: str) -> None:
    async def make() -> AgentStoreSaver:
        return AgentStoreSaver(await agentstore.aio.open(target))

    _assert_all_passed(_conformance(make))


# The sync methods


def _checkpoint(checkpoint_id: str, messages: list[Any], version: str) -> dict[str, Any]:
    return {
        "v": 1,
        "id": checkpoint_id,
        "ts": "2025-01-01T00:00:00+00:00",
        "channel_values": {"messages": messages, "step": len(messages)},
        "channel_versions": {"messages": version, "step": version},
        "versions_seen": {"agent": {"messages": version}},
        "updated_channels": ["messages"],
    }


def _grow(saver: AgentStoreSaver, thread_id: str, turns: int) -> list[RunnableConfig]:
    """Put ``turns`` checkpoints, each one message longer than its parent."""
    config: RunnableConfig = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    messages: list[Any] = []
    configs = []
    version: str | None = None
    for turn in range(turns):
        messages = [*messages, HumanMessage(f"message {turn}", id=f"m{turn}")]
        version = saver.get_next_version(version, None)
        checkpoint = _checkpoint(f"1f0-{turn:04d}", messages, version)
        metadata = {"source": "loop", "step": turn, "run_id": f"run-{turn % 2}"}
        new_versions = {"messages": version, "step": version}
        config = saver.put(config, checkpoint, metadata, new_versions)  # type: ignore[arg-type]
        configs.append(config)
    return configs


def test_sync_methods_keep_read_and_list_a_growing_thread(target: str) -> None:
    with AgentStoreSaver.from_url(target) as saver:
        configs = _grow(saver, "thread-1", 120)
        saver.put_writes(configs[-1], [("messages", "pending"), ("step", 7)], "task-1", "~")
        latest = saver.get_tuple({"configurable": {"thread_id": "thread-1"}})
        assert latest is not None
        assert latest.config == configs[-1]
        assert [m.content for m in latest.checkpoint["channel_values"]["messages"]][-2:] == [
            "message 118",
            "message 119",
        ]
        assert latest.pending_writes == [("task-1", "messages", "pending"), ("task-1", "step", 7)]
        early = saver.get_tuple(configs[3])
        assert early is not None
        assert len(early.checkpoint["channel_values"]["messages"]) == 4
        assert early.parent_config == configs[2]
        listed = list(saver.list({"configurable": {"thread_id": "thread-1"}}, limit=5))
        assert [t.config for t in listed] == configs[::-1][:5]
        assert len(list(saver.list(None, filter={"step": 7}))) == 1
        assert [t.config for t in saver.list(None, before=configs[2])] == configs[1::-1]
        # Delta storage: far fewer full versions than checkpoints.
        events = saver.store.replay(session_id_of("thread-1"), types=[CHECKPOINT])
        assert isinstance(events, list)
        assert sum(e.payload["full"] for e in events) < 10


def test_sync_prune_copy_and_delete_keep_the_kept_checkpoints_readable(target: str) -> None:
    with AgentStoreSaver.from_url(target) as saver:
        configs = _grow(saver, "thread-2", 30)
        saver.copy_thread("thread-2", "copy")
        saver.delete_for_runs(["run-1"])
        kept = [t.config for t in saver.list({"configurable": {"thread_id": "thread-2"}})]
        assert kept == configs[-2::-2]  # the odd turns were run-1's
        saver.prune(["thread-2"])
        assert [t.config for t in saver.list({"configurable": {"thread_id": "thread-2"}})] == [
            configs[-2]
        ]
        latest = saver.get_tuple({"configurable": {"thread_id": "thread-2"}})
        assert latest is not None
        assert len(latest.checkpoint["channel_values"]["messages"]) == 29
        copied = list(saver.list({"configurable": {"thread_id": "copy"}}))
        assert len(copied) == 15  # delete_for_runs removed run-1's from the copy too
        saver.delete_thread("thread-2")
        assert saver.get_tuple({"configurable": {"thread_id": "thread-2"}}) is None


def test_delta_channel_history_is_what_the_parent_walk_gives(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small full versions every few checkpoints, so the walk passes several chains.
    monkeypatch.setattr("agentstore.integrations.langgraph.records.MIN_FULL_BYTES", 2000)
    with AgentStoreSaver.from_url(target) as saver:
        config: RunnableConfig = {"configurable": {"thread_id": "deltas", "checkpoint_ns": ""}}
        configs: list[RunnableConfig] = []
        version: str | None = None
        for turn in range(80):
            if turn == 60:  # time travel: the rest branches off turn 40
                config = configs[40]
            version = saver.get_next_version(version, None)
            checkpoint = _checkpoint(f"1f0-{turn:04d}", [f"message {turn}"] * 3, version)
            checkpoint["channel_versions"]["delta"] = version
            if turn % 25 == 0:  # a snapshot of the delta channel, else only its writes
                checkpoint["channel_values"]["delta"] = {"snapshot": turn}
            new_versions = {"messages": version, "step": version, "delta": version}
            config = saver.put(config, checkpoint, {"step": turn}, new_versions)  # type: ignore[arg-type]
            configs.append(config)
            writes = [("delta", turn), ("messages", f"w{turn}"), ("delta", -turn)]
            saver.put_writes(config, writes, f"task-{turn % 3}", f"~{turn % 2}")
        events = saver.store.replay(session_id_of("deltas"), types=[CHECKPOINT])
        assert isinstance(events, list)
        assert sum(e.payload["full"] for e in events) >= 5
        reads = 0
        read = saver._port.read

        async def counted(*args: Any) -> Any:
            nonlocal reads
            reads += 1
            return await read(*args)

        monkeypatch.setattr(saver._port, "read", counted)
        channels = ["delta", "messages", "absent"]
        latest: RunnableConfig = {"configurable": {"thread_id": "deltas"}}
        for config in [configs[79], configs[59], configs[3], configs[0], latest]:
            expected = BaseCheckpointSaver.get_delta_channel_history(
                saver, config=config, channels=channels
            )
            reads = 0
            assert saver.get_delta_channel_history(config=config, channels=channels) == expected
            assert reads <= 3  # the chains passed, not one read per ancestor
            got = asyncio.run(saver.aget_delta_channel_history(config=config, channels=channels))
            assert got == expected
        history = saver.get_delta_channel_history(config=configs[79], channels=channels)
        assert history["delta"]["seed"] == {"snapshot": 75}
        assert [w[2] for w in history["delta"]["writes"]] == [75, -75, 76, -76, 77, -77, 78, -78]
        assert "seed" not in history["absent"]
        assert history["absent"]["writes"] == []
        branched = saver.get_delta_channel_history(config=configs[62], channels=["delta"])
        assert branched["delta"]["seed"] == {"snapshot": 25}  # along the branch, not turn 50
        assert saver.get_delta_channel_history(config=configs[5], channels=[]) == {}


def test_a_thread_id_that_is_not_a_session_id_gets_a_hashed_one() -> None:
    with AgentStoreSaver.from_url(":memory:") as saver:
        _grow(saver, "user/42 thread", 2)
        store = saver.store
        assert isinstance(store, agentstore.Store)
        session = store.get_session(session_id_of("user/42 thread"))
        assert session.id.startswith("langgraph-")
        assert session.labels["langgraph.thread_id"] == "user/42 thread"
        assert len(list(saver.list(None))) == 2


def test_sync_methods_over_an_async_store_from_another_thread(tmp_path: Path) -> None:
    async def main() -> None:
        store = await agentstore.aio.open(str(tmp_path / "store.db"))
        saver = AgentStoreSaver(store)
        done: list[Any] = []
        worker = threading.Thread(target=lambda: done.append(_grow(saver, "t", 5)))
        worker.start()
        while worker.is_alive():
            await asyncio.sleep(0.01)
        assert len(done[0]) == 5
        latest = await saver.aget_tuple({"configurable": {"thread_id": "t"}})
        assert latest is not None
        assert latest.config == done[0][-1]
        with pytest.raises(RuntimeError, match="async method"):
            saver.get_tuple({"configurable": {"thread_id": "t"}})
        await store.aclose()

    asyncio.run(main())


# A real graph


class ChatState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


@tool
def parcel_status(parcel: str) -> str:
    """Where a parcel is."""
    return f"{parcel} is in Lyon"


ANSWERS: list[BaseMessage] = [
    AIMessage("", tool_calls=[{"name": "parcel_status", "args": {"parcel": "P1"}, "id": "call-1"}]),
    AIMessage("Your parcel is in Lyon."),
]


def build_graph(saver: AgentStoreSaver, answers: list[BaseMessage]) -> Any:
    """A chat agent with a tool node, interrupted before its tools run."""
    model = FakeMessagesListChatModel(responses=answers)

    def agent(state: ChatState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    builder = StateGraph(ChatState)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode([parcel_status]))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    return builder.compile(checkpointer=saver, interrupt_before=["tools"])


def resume(target: str) -> None:
    """Resume the interrupted thread (run in another process)."""
    with AgentStoreSaver.from_url(target) as saver:
        graph = build_graph(saver, ANSWERS[1:])
        graph.invoke(None, {"configurable": {"thread_id": "chat"}})


def test_a_graph_is_interrupted_resumed_elsewhere_and_time_travels(target: str) -> None:
    if target == ":memory:":
        pytest.skip("another process cannot see an in-memory store")
    config = {"configurable": {"thread_id": "chat"}}
    with AgentStoreSaver.from_url(target) as saver:
        graph = build_graph(saver, ANSWERS)
        graph.invoke({"messages": [HumanMessage("Where is P1?")]}, config)
        assert graph.get_state(config).next == ("tools",)
    code = f"from tests.test_langgraph import resume; resume({target!r})"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)
    with AgentStoreSaver.from_url(target) as saver:
        graph = build_graph(saver, [AIMessage("Still in Lyon.")])
        state = graph.get_state(config)
        assert [m.content for m in state.values["messages"]][-2:] == [
            "P1 is in Lyon",
            "Your parcel is in Lyon.",
        ]
        history = list(graph.get_state_history(config))
        before_tools = next(s for s in history if s.next == ("tools",))
        graph.invoke(None, before_tools.config)
        travelled = graph.get_state(config)
        assert [m.content for m in travelled.values["messages"]][-1] == "Still in Lyon."
        assert len(travelled.values["messages"]) == 4
