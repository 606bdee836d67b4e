"""Every sync/async pair offers the same operations with the same parameters.

The operations themselves are written once (agentstore.core, agentstore.recording.calls,
the backends' shared SQL and rows) and the conformance suite holds both faces of every
backend to the same answers; this pins the faces' shapes, so that an operation or a
parameter added to one face and not to the other fails here.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

import agentstore
import agentstore.aio
from agentstore.backends.base import AsyncBackend, AsyncSubscription, Backend, Subscription
from agentstore.feeds import Watch
from agentstore.recording import LLMCall, Recorder, ToolCall
from agentstore.recording.async_recorder import AsyncLLMCall, AsyncRecorder, AsyncToolCall

# Names each face has under its own protocol: (sync name, async name).
RENAMED = {("__enter__", "__aenter__"), ("__exit__", "__aexit__"), ("close", "aclose")}
# Names only one face has, and why.
ONE_FACE = {
    "loop",  # AsyncStore: the event loop its calls belong to
    "start",  # AsyncWatch: starting the feed is awaited; a Watch starts when made
    "open",  # AsyncPostgresBackend.open: connecting is awaited; the sync one connects in __init__
    "inline",  # AsyncBackend: a sync backend the async store may call without awaiting
}
# What only the sync backend contract has: the async faces of the JSONL and SQLite
# backends run their appends through append_many (group commit across tasks), and verify
# reads a backend's own checks through the sync face.
SYNC_BACKEND_ONLY = frozenset({"append_many", "commits_many", "parallel_commits"})


def _public(kind: type) -> dict[str, Any]:
    protocol = {name for pair in RENAMED for name in pair}
    return {
        name: member
        for name, member in inspect.getmembers(kind)
        if (not name.startswith("_") or name in protocol) and name not in ONE_FACE
    }


def _parameters(member: Any) -> list[tuple[str, Any, Any]] | None:
    if isinstance(member, property):
        return None
    if not callable(member):
        return None
    try:
        signature = inspect.signature(member)
    except (TypeError, ValueError):
        return None
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()]


def _same_shape(
    sync: type, asynchronous: type, *, extra_sync: frozenset[str] = frozenset()
) -> None:
    sync_members = _public(sync)
    async_members = _public(asynchronous)
    renamed = {a: s for s, a in RENAMED}
    async_names = {renamed.get(name, name) for name in async_members}
    sync_names = set(sync_members) - extra_sync
    assert sync_names == async_names, (
        f"only {sync.__name__}: {sorted(sync_names - async_names)}; "
        f"only {asynchronous.__name__}: {sorted(async_names - sync_names)}"
    )
    for name, member in async_members.items():
        sync_member = sync_members[renamed.get(name, name)]
        if name.startswith("__"):
            continue  # the protocols' own signatures
        assert _parameters(sync_member) == _parameters(member), f"{name} differs"


PAIRS: list[tuple[type, type]] = [
    (agentstore.Store, agentstore.aio.AsyncStore),
    (Watch, agentstore.aio.AsyncWatch),
    (Recorder, AsyncRecorder),
    (ToolCall, AsyncToolCall),
    (LLMCall, AsyncLLMCall),
    (Subscription, AsyncSubscription),
]


@pytest.mark.parametrize(("sync", "asynchronous"), PAIRS, ids=lambda kind: kind.__name__)
def test_both_faces_have_the_same_operations_and_parameters(sync: type, asynchronous: type) -> None:
    _same_shape(sync, asynchronous)


def test_the_backend_contracts_differ_only_in_what_the_sync_face_serves() -> None:
    _same_shape(Backend, AsyncBackend, extra_sync=SYNC_BACKEND_ONLY)


def test_the_postgres_backends_have_the_same_operations() -> None:
    postgres = pytest.importorskip("agentstore.backends.postgres")
    _same_shape(
        postgres.PostgresBackend, postgres.AsyncPostgresBackend, extra_sync=SYNC_BACKEND_ONLY
    )


def test_the_langchain_handlers_have_the_same_callbacks() -> None:
    langchain = pytest.importorskip("agentstore.integrations.langchain")
    sync, asynchronous = (
        langchain.AgentStoreCallbackHandler,
        langchain.AsyncAgentStoreCallbackHandler,
    )
    callbacks = [name for name in vars(sync) if name.startswith("on_")]
    assert callbacks == [name for name in vars(asynchronous) if name.startswith("on_")]
    for name in callbacks:
        assert _parameters(getattr(sync, name)) == _parameters(getattr(asynchronous, name)), name
        assert inspect.iscoroutinefunction(getattr(asynchronous, name)), name


@pytest.mark.parametrize(
    ("asynchronous", "plain"),
    [
        # watch and iter_events return async iterators (their arguments checked at the call)
        (agentstore.aio.AsyncStore, {"watch", "recorder", "loop", "iter_events"}),
        (AsyncRecorder, {"tool_call", "llm_call", "tool"}),
        (AsyncBackend, set()),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_the_async_faces_operations_are_coroutines(asynchronous: type, plain: set[str]) -> None:
    for name, member in _public(asynchronous).items():
        if name.startswith("__") or not inspect.isfunction(member) or name in plain:
            continue
        assert inspect.iscoroutinefunction(member), f"{asynchronous.__name__}.{name}"


def test_the_two_openers_take_the_same_arguments() -> None:
    assert _parameters(agentstore.open) == _parameters(agentstore.aio.open)


def test_a_face_gaining_a_parameter_is_caught() -> None:
    class Wider(agentstore.aio.AsyncStore):
        async def get_events(
            self, session_id: str, from_seq: int = 0, *, limit: int = 0
        ) -> list[agentstore.Event]:
            raise NotImplementedError

    with pytest.raises(AssertionError, match="get_events differs"):
        _same_shape(agentstore.Store, Wider)


def test_a_face_gaining_an_operation_is_caught() -> None:
    class Larger(Recorder):
        __slots__ = ()

        def trim(self) -> None:
            raise NotImplementedError

    with pytest.raises(AssertionError, match="only Larger: \\['trim'\\]"):
        _same_shape(Larger, AsyncRecorder)
