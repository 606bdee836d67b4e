"""Immutable records: nothing a caller does to what the store returns changes what it holds.

Every event, payload, state, session, list and dict the store hands out is either a
private copy or read-only: editing it in place raises ``TypeError`` and changes neither
what the store returns next nor what it writes (snapshots included).
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from agentstore import EventType, Metadata, Session, Store, new_event
from agentstore.testing.conformance.base import StoreFactory, history
from agentstore.verifying import verify

NESTED: dict[str, Any] = {
    "query": "BER → MUC",
    "legs": [{"from": "BER", "to": "MUC"}],
    "tags": ["a", "b"],
}

# Every way of changing a JSON value in place, on a payload shaped like NESTED.
EDITS: dict[str, Callable[[Any], object]] = {
    "set a key": lambda payload: payload.__setitem__("query", "hacked"),
    "delete a key": lambda payload: payload.__delitem__("query"),
    "update": lambda payload: payload.update(query="hacked"),
    "pop": lambda payload: payload.pop("query"),
    "clear": lambda payload: payload.clear(),
    "setdefault": lambda payload: payload.setdefault("new", 1),
    "set in a nested dict": lambda payload: payload["legs"][0].__setitem__("to", "LHR"),
    "append to a nested list": lambda payload: payload["tags"].append("c"),
    "set in a nested list": lambda payload: payload["tags"].__setitem__(0, "z"),
    "sort a nested list": lambda payload: payload["tags"].sort(reverse=True),
    "extend a nested list": lambda payload: payload["tags"].extend(["c"]),
}


def _attempt(edit: Callable[[Any], object], value: Any) -> None:
    with pytest.raises(TypeError, match="read-only"):
        edit(value)


class RecordScenarios:
    @pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
    def test_an_appended_events_payload_cannot_be_changed(
        self, store: Store, session: Session, edit: Callable[[Any], object]
    ) -> None:
        stored = store.append(session.id, new_event(EventType.TOOL_CALLED, NESTED))
        _attempt(edit, stored.payload)
        assert store.get_events(session.id)[0].payload == NESTED
        again = store.append(session.id, new_event(EventType.TOOL_CALLED, NESTED, id=stored.id))
        assert again.payload == NESTED  # the idempotent answer is the stored event, unchanged

    @pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
    def test_a_read_events_payload_cannot_be_changed(
        self, store: Store, session: Session, edit: Callable[[Any], object]
    ) -> None:
        store.append_batch(session.id, [new_event(EventType.TOOL_CALLED, NESTED)])
        for events in (
            store.get_events(session.id),
            store.replay(session.id, types=["tool_called"]),
        ):
            _attempt(edit, events[0].payload)
        assert [event.payload for event in store.replay(session.id)] == [NESTED]

    def test_a_watched_events_payload_cannot_be_changed(
        self, store: Store, session: Session
    ) -> None:
        store.append(session.id, new_event(EventType.TOOL_CALLED, NESTED))
        with store.watch(session.id, timeout=0.01) as feed:
            seen = next(feed)
        _attempt(EDITS["set a key"], seen.payload)
        assert store.get_events(session.id)[0].payload == NESTED

    def test_a_forks_copied_payloads_cannot_change_the_parent(
        self, store: Store, session: Session
    ) -> None:
        store.append(session.id, new_event(EventType.TOOL_CALLED, NESTED))
        fork = store.fork(session.id, at_seq=1)
        _attempt(EDITS["append to a nested list"], store.get_events(fork.id)[0].payload)
        assert store.get_events(session.id)[0].payload == NESTED

    def test_the_returned_lists_are_the_callers_own(self, store: Store, session: Session) -> None:
        store.append_batch(session.id, [new_event("step", {"n": n}) for n in range(3)])
        for events in (store.get_events(session.id), store.replay(session.id)):
            events.clear()
        sessions = store.list_sessions()
        sessions.clear()
        assert len(store.get_events(session.id)) == 3
        assert [s.id for s in store.list_sessions()] == [session.id]

    def test_a_sessions_labels_and_a_metadatas_extra_cannot_be_changed(
        self, store: Store, session: Session
    ) -> None:
        with pytest.raises(TypeError):
            store.get_session(session.id).labels["env"] = "prod"  # type: ignore[index]
        stored = store.append(
            session.id, new_event("step", metadata=Metadata(extra={"region": "eu"}))
        )
        with pytest.raises(TypeError):
            stored.metadata.extra["region"] = "us"  # type: ignore[index]
        assert store.get_session(session.id).labels == {"env": "test"}
        assert store.get_events(session.id)[0].metadata.extra == {"region": "eu"}

    @pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
    def test_a_states_data_cannot_be_changed_nor_saved_changed(
        self, open_store: StoreFactory, edit: Callable[[Any], object]
    ) -> None:
        with open_store(snapshot_interval=2) as store:
            session = store.create_session()
            store.append(session.id, new_event(EventType.TOOL_CALLED, NESTED))
            state = store.get_state(session.id)
            _attempt(edit, state.data["tool_called"])
            with pytest.raises(TypeError, match="read-only"):
                state.data["tool_called"] = {}
            store.append(session.id, new_event(EventType.USER_MESSAGE, {"text": "hi"}))
            store.get_state(session.id)  # folds on, and saves the snapshot at seq 2
            at_one = store.get_state(session.id, at_seq=1)
            _attempt(edit, at_one.data["tool_called"])
        with open_store(snapshot_interval=2) as reopened:
            assert reopened.get_state(session.id).data["tool_called"] == NESTED
            assert not verify(reopened).problems

    def test_a_changed_original_does_not_change_the_stored_copy(
        self, store: Store, session: Session
    ) -> None:
        original = copy.deepcopy(NESTED)
        store.append(session.id, new_event(EventType.TOOL_CALLED, original))
        original["legs"][0]["to"] = "LHR"
        original["tags"].append("c")
        assert store.get_events(session.id)[0].payload == NESTED

    def test_a_read_only_payload_is_still_plain_json(self, store: Store, session: Session) -> None:
        payload = store.append(session.id, new_event(EventType.TOOL_CALLED, NESTED)).payload
        assert isinstance(payload, dict)
        assert isinstance(payload["tags"], list)
        assert orjson.loads(orjson.dumps(payload)) == NESTED
        assert pickle.loads(pickle.dumps(payload)) == NESTED  # noqa: S301 - its own bytes
        editable = copy.deepcopy(payload)
        editable["tags"].append("c")  # a deep copy is the caller's to change
        assert dict(payload) == NESTED
        assert history(store, session.id)[0]["payload"] == NESTED
