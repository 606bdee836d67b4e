"""The public names are pinned: adding one is a decision, removing one breaks users."""

from __future__ import annotations

import importlib.resources
import inspect

import agentstore
import agentstore.aio
from agentstore import errors

PUBLIC = [
    "AccessDeniedError",
    "AgentStoreError",
    "ConcurrencyError",
    "CopyReport",
    "CorruptLogError",
    "EventLoopError",
    "Event",
    "EventType",
    "InvalidArgumentError",
    "InvalidEventError",
    "InvalidSessionIdError",
    "Metadata",
    "ReadOnlyStoreError",
    "Recorder",
    "Reducer",
    "Session",
    "SessionExistsError",
    "SessionNotFoundError",
    "Snapshot",
    "State",
    "StorageError",
    "Store",
    "StoreClosedError",
    "StoreNotFoundError",
    "StoreVersionError",
    "TokenUsage",
    "__version__",
    "copy_sessions",
    "default_reducer",
    "new_event",
    "open",
]

ASYNC_PUBLIC = ["AsyncBackend", "AsyncRecorder", "AsyncStore", "AsyncWatch", "Opening", "open"]

STORE_METHODS = [
    "append",
    "append_batch",
    "close",
    "create_session",
    "delete_session",
    "fork",
    "get_events",
    "get_session",
    "get_state",
    "iter_events",
    "list_sessions",
    "recorder",
    "replay",
    "update_session",
    "watch",
]


def test_the_public_names_are_pinned() -> None:
    assert sorted(agentstore.__all__) == sorted(PUBLIC)
    for name in PUBLIC:
        assert getattr(agentstore, name) is not None


def test_every_error_is_exported_and_an_agentstore_error() -> None:
    for name in errors.__all__:
        error = getattr(agentstore, name)
        assert issubclass(error, agentstore.AgentStoreError)
    for name in ["InvalidEventError", "InvalidSessionIdError", "InvalidArgumentError"]:
        assert issubclass(getattr(agentstore, name), ValueError)


def test_the_store_has_every_operation_of_the_contract() -> None:
    public = sorted(
        name
        for name, member in inspect.getmembers(agentstore.Store, inspect.isfunction)
        if not name.startswith("_")
    )
    assert public == STORE_METHODS


def test_optional_arguments_are_keyword_only() -> None:
    signature = inspect.signature(agentstore.Store.replay)
    assert all(
        p.kind is inspect.Parameter.KEYWORD_ONLY
        for name, p in signature.parameters.items()
        if name not in ("self", "session_id")
    )
    assert list(inspect.signature(agentstore.open).parameters)[:4] == [
        "target",
        "snapshot_interval",
        "reducer",
        "max_payload_bytes",
    ]


def test_every_public_callable_is_documented() -> None:
    for name in PUBLIC:
        member = getattr(agentstore, name)
        if callable(member):
            assert inspect.getdoc(member), name
    for name in STORE_METHODS:
        assert inspect.getdoc(getattr(agentstore.Store, name)), name


def test_the_package_ships_its_type_information() -> None:
    assert importlib.resources.files("agentstore").joinpath("py.typed").is_file()


def test_the_async_names_are_pinned() -> None:
    assert sorted(agentstore.aio.__all__) == sorted(ASYNC_PUBLIC)
    assert "AsyncStore" not in agentstore.__all__  # the async face lives in agentstore.aio


def test_the_async_store_has_every_operation_under_the_same_name_and_arguments() -> None:
    for name in STORE_METHODS:
        ours = getattr(agentstore.aio.AsyncStore, name)
        assert inspect.getdoc(ours), name
        # watch and iter_events return async iterators, recorder a recorder
        plain = name in ("watch", "iter_events", "recorder")
        assert plain != inspect.iscoroutinefunction(ours), name
        sync = inspect.signature(getattr(agentstore.Store, name)).parameters
        assert list(inspect.signature(ours).parameters) == list(sync), name
    assert inspect.iscoroutinefunction(agentstore.aio.AsyncStore.aclose)
    sync_open = list(inspect.signature(agentstore.open).parameters)
    assert list(inspect.signature(agentstore.aio.open).parameters) == sync_open
    for name in ASYNC_PUBLIC:
        assert inspect.getdoc(getattr(agentstore.aio, name)), name


def test_the_import_paths_users_hold_keep_working() -> None:
    from agentstore.recording import CALLER, CallScope, LLMCall, Recorder, ToolCall, to_json
    from agentstore.testing import StoreConformance, StoreFactory

    assert Recorder is agentstore.Recorder
    assert {CALLER, CallScope, LLMCall, ToolCall, to_json, StoreConformance, StoreFactory}
    assert agentstore.aio.AsyncRecorder.__module__ == "agentstore.recording.async_recorder"
