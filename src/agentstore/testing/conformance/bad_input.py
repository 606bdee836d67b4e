"""Bad input: every mistake gets its typed error, a message naming it, and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from agentstore import (
    AgentStoreError,
    EventType,
    InvalidArgumentError,
    InvalidEventError,
    InvalidSessionIdError,
    Metadata,
    SessionNotFoundError,
    Store,
    new_event,
)
from agentstore.testing.conformance.base import StoreFactory, history, record


@dataclass(frozen=True)
class Case:
    """A bad call: what it does to a store with session ``sid``, and the error it must raise."""

    name: str
    call: Callable[[Store, str], object]
    error: type[AgentStoreError]
    message: str  # a regular expression the message must contain
    max_payload_bytes: int | None = None  # the store's limit, if not the default one


def wrong(value: object) -> Any:
    """Pass a value of the wrong type on purpose (the type checker would refuse it)."""
    return value


def _payload(value: Any) -> Callable[[Store, str], object]:
    return lambda store, sid: store.append(sid, new_event(EventType.TOOL_RESULT, value))


def _cycle_dict() -> dict[str, Any]:
    loop: dict[str, Any] = {"name": "loop"}
    loop["self"] = {"again": loop}
    return loop


def _cycle_list() -> list[Any]:
    loop: list[Any] = [1]
    loop.append(loop)
    return loop


def _doubling(levels: int) -> list[Any]:
    """A few objects that encode to 2**levels copies of a list (x = [x, x], repeated)."""
    value: list[Any] = [0]
    for _ in range(levels):
        value = [value, value]
    return value


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"d": value}
    return value


_ID = InvalidSessionIdError
_EVENT = InvalidEventError
_ARG = InvalidArgumentError

CASES = [
    # Session ids: they become file names, so anything path-like is refused.
    Case("empty id", lambda s, _: s.create_session(id=""), _ID, "empty"),
    Case("slash", lambda s, _: s.create_session(id="a/b"), _ID, "contains '/'"),
    Case("backslash", lambda s, _: s.create_session(id="a\\b"), _ID, r"contains '\\\\'"),
    Case("parent dir", lambda s, _: s.create_session(id=".."), _ID, "may not start with '.'"),
    Case("escape", lambda s, _: s.create_session(id="../x"), _ID, "may not start with '.'"),
    Case("option-like", lambda s, _: s.create_session(id="-rf"), _ID, "may not start with '-'"),
    Case("NUL", lambda s, _: s.create_session(id="a\x00b"), _ID, r"contains '\\x00'"),
    Case("too long", lambda s, _: s.create_session(id="x" * 129), _ID, "129 characters"),
    Case("not a str", lambda s, _: s.create_session(id=wrong(42)), _ID, "must be a str, not int"),
    Case("non-ASCII", lambda s, _: s.create_session(id="café"), _ID, "contains 'é'"),
    Case("space", lambda s, _: s.append("a b", new_event("x")), _ID, "contains ' '"),
    Case("path on append", lambda s, _: s.append("../../etc/passwd", new_event("x")), _ID, "'.'"),
    Case("None on read", lambda s, _: s.get_events(wrong(None)), _ID, "not NoneType"),
    # Payloads: only what JSON round-trips unchanged.
    Case("NaN", _payload({"value": float("nan")}), _EVENT, r"payload\['value'\]: nan"),
    Case("infinity", _payload({"value": float("inf")}), _EVENT, r"payload\['value'\]: inf"),
    Case("-inf in list", _payload({"s": [1.0, float("-inf")]}), _EVENT, r"\['s'\]\[1\]: -inf"),
    Case("set", _payload({"tags": {"a"}}), _EVENT, r"set is not a JSON type \(use a list\)"),
    Case("bytes", _payload({"raw": b"\x00"}), _EVENT, "bytes is not a JSON type"),
    Case("object", _payload({"o": object()}), _EVENT, "object is not a JSON type"),
    Case("datetime", _payload({"at": datetime(2026, 1, 1)}), _EVENT, "datetime is not a JSON"),
    Case("Decimal", _payload([Decimal("1.5")]), _EVENT, r"payload\[0\]: Decimal"),
    Case("int key", _payload({1: "one"}), _EVENT, "dict key 1 is a int"),
    Case("tuple key", _payload({"a": {("x",): 1}}), _EVENT, r"payload\['a'\]: dict key"),
    Case("dict cycle", _payload(_cycle_dict()), _EVENT, r"payload\['self'\]\['again'\]: .*cycle"),
    Case("list cycle", _payload(_cycle_list()), _EVENT, r"payload\[1\]: .*cycle"),
    Case("too deep", _payload(_nested(65)), _EVENT, "deeper than 64 levels"),
    Case("too large", _payload({"blob": "x" * (1 << 20)}), _EVENT, "over the limit of 1048576"),
    Case("lone surrogate", _payload({"t": "a\ud800"}), _EVENT, r"\['t'\]: .*surrogate"),
    Case("int over 64 bits", _payload({"n": 2**64}), _EVENT, r"\['n'\]: an integer of 65 bits"),
    Case("huge int", _payload([10**5000]), _EVENT, r"payload\[0\]: an integer of 16610 bits"),
    Case("surrogate key", _payload({"k\udc00": 1}), _EVENT, "surrogate"),
    # Refused once its copy passes the limit, long before its 2**40 lists: under a small
    # limit, since under the default one the copy makes a million lists first.
    Case("self-similar", _payload(_doubling(40)), _EVENT, "larger than the limit of 4096", 4096),
    Case("deep path", _payload({"a": [1, {"b": {3}}]}), _EVENT, r"payload\['a'\]\[1\]\['b'\]"),
    # Event types.
    Case(
        "type with space",
        lambda s, sid: s.append(sid, new_event("Bad Type")),
        _EVENT,
        "bad event type",
    ),
    Case("empty type", lambda s, sid: s.append(sid, new_event("")), _EVENT, "bad event type"),
    Case(
        "type digit first",
        lambda s, sid: s.append(sid, new_event("1st")),
        _EVENT,
        "starting with a letter",
    ),
    Case("type too long", lambda s, sid: s.append(sid, new_event("x" * 65)), _EVENT, "1-64"),
    Case("type upper case", lambda s, sid: s.append(sid, new_event("UPPER")), _EVENT, "'UPPER'"),
    Case("type not a str", lambda s, sid: s.append(sid, new_event(wrong(42))), _EVENT, "not int"),
    # Metadata.
    Case("negative tokens", lambda s, sid: Metadata(tokens_in=-1), _EVENT, "metadata.tokens_in"),
    Case("NaN cost", lambda s, sid: Metadata(cost_usd=float("nan")), _EVENT, "metadata.cost_usd"),
    Case(
        "str tokens", lambda s, sid: Metadata(tokens_out=wrong("5")), _EVENT, "metadata.tokens_out"
    ),
    Case("bool cost", lambda s, sid: Metadata(cost_usd=True), _EVENT, "metadata.cost_usd"),
    Case("extra not str", lambda s, sid: Metadata(extra=wrong({"a": 1})), _EVENT, "metadata.extra"),
    Case(
        "metadata dict",
        lambda s, sid: new_event("x", metadata=wrong({"tokens_in": 1})),
        _EVENT,
        "must be a Metadata",
    ),
    Case("huge tokens", lambda s, sid: Metadata(tokens_in=2**63), _EVENT, "metadata.tokens_in"),
    Case("huge cost", lambda s, sid: Metadata(cost_usd=1e300), _EVENT, "metadata.cost_usd"),
    Case(
        "huge duration",
        lambda s, sid: Metadata(duration_ms=wrong(1e300)),
        _EVENT,
        "metadata.duration_ms",
    ),
    Case(
        "surrogate model",
        lambda s, sid: Metadata(model="gpt\ud800"),
        _EVENT,
        "metadata.model: .*surrogate",
    ),
    Case("surrogate extra", lambda s, sid: Metadata(extra={"k": "\udfff"}), _EVENT, "surrogate"),
    Case(
        "surrogate id",
        lambda s, sid: s.append(sid, new_event("x", id="id\ud800")),
        _EVENT,
        "id: .*surrogate",
    ),
    Case("empty event id", lambda s, sid: new_event("x", id=""), _EVENT, "event id"),
    # Seqs and other arguments.
    Case(
        "negative at_seq",
        lambda s, sid: s.get_state(sid, at_seq=-1),
        _ARG,
        "at_seq must be a non-negative int",
    ),
    Case("float at_seq", lambda s, sid: s.get_state(sid, at_seq=wrong(1.5)), _ARG, "not 1.5"),
    Case("str at_seq", lambda s, sid: s.get_state(sid, at_seq=wrong("3")), _ARG, "not '3'"),
    Case("bool at_seq", lambda s, sid: s.get_state(sid, at_seq=True), _ARG, "not True"),
    Case(
        "at_seq past end", lambda s, sid: s.get_state(sid, at_seq=99), _ARG, "past the last event"
    ),
    Case("negative from_seq", lambda s, sid: s.get_events(sid, -1), _ARG, "from_seq"),
    Case("replay from_seq", lambda s, sid: s.replay(sid, from_seq=-2), _ARG, "from_seq"),
    Case("replay to_seq", lambda s, sid: s.replay(sid, to_seq=wrong("x")), _ARG, "to_seq"),
    Case("fork past end", lambda s, sid: s.fork(sid, at_seq=99), _ARG, "past the last event"),
    Case(
        "negative expected_seq",
        lambda s, sid: s.append(sid, new_event("x"), expected_seq=-1),
        _ARG,
        "expected_seq",
    ),
    Case(
        "float expected_seq",
        lambda s, sid: s.append(sid, new_event("x"), expected_seq=wrong(1.0)),
        _ARG,
        "expected_seq",
    ),
    Case(
        "naive since",
        lambda s, sid: s.replay(sid, since=datetime(2026, 1, 1)),
        _ARG,
        "timezone-aware",
    ),
    Case(
        "bad replay type",
        lambda s, sid: s.replay(sid, types=["Bad Type"]),
        _ARG,
        "types: bad event type",
    ),
    Case("negative limit", lambda s, _: s.list_sessions(limit=-1), _ARG, "limit"),
    Case("label not str", lambda s, _: s.create_session(labels=wrong({"a": 1})), _ARG, "labels"),
    Case(
        "labels not a map", lambda s, _: s.create_session(labels=wrong("env=dev")), _ARG, "labels"
    ),
    Case("surrogate name", lambda s, _: s.create_session(name="a\ud800"), _ARG, "surrogate"),
    Case(
        "surrogate label", lambda s, _: s.create_session(labels={"k": "\ud800"}), _ARG, "surrogate"
    ),
    Case("NUL in label", lambda s, _: s.create_session(labels={"k": "a\x00b"}), _ARG, "NUL"),
    Case(
        "NUL in event id", lambda s, sid: s.append(sid, new_event("x", id="a\x00")), _EVENT, "NUL"
    ),
    Case("NaN timeout", lambda s, sid: s.watch(sid, timeout=float("nan")), _ARG, "timeout"),
    Case("name not str", lambda s, _: s.create_session(name=wrong(42)), _ARG, "name must be a str"),
    Case("negative timeout", lambda s, sid: s.watch(sid, timeout=-1), _ARG, "timeout"),
    # Events and batches.
    Case("not an event", lambda s, sid: s.append(sid, wrong("hello")), _EVENT, "expected an Event"),
    Case(
        "dict in batch",
        lambda s, sid: s.append_batch(sid, [new_event("x"), wrong({})]),
        _EVENT,
        r"events\[1\]",
    ),
    Case(
        "batch not a list",
        lambda s, sid: s.append_batch(sid, wrong("xy")),
        _EVENT,
        "sequence of Event",
    ),
    Case(
        "repeated id in batch",
        lambda s, sid: s.append_batch(sid, [new_event("x", id="a"), new_event("y", id="a")]),
        _EVENT,
        "appears twice",
    ),
    Case(
        "bad event mid-batch",
        lambda s, sid: s.append_batch(sid, [new_event("x"), new_event("y", {"v": {1}})]),
        _EVENT,
        r"events\[1\]\.payload\['v'\]",
    ),
    # Unknown sessions, reads included.
    Case(
        "append unknown",
        lambda s, _: s.append("missing", new_event("x")),
        SessionNotFoundError,
        "'missing'",
    ),
    Case("state unknown", lambda s, _: s.get_state("missing"), SessionNotFoundError, "'missing'"),
    Case(
        "fork unknown", lambda s, _: s.fork("missing", at_seq=0), SessionNotFoundError, "'missing'"
    ),
    Case(
        "batch unknown",
        lambda s, _: s.append_batch("missing", [new_event("x")]),
        SessionNotFoundError,
        "'missing'",
    ),
]


class BadInputScenarios:
    @pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
    def test_bad_input_raises_its_error_and_changes_nothing(
        self, open_store: StoreFactory, case: Case
    ) -> None:
        limit = case.max_payload_bytes
        with open_store(**({} if limit is None else {"max_payload_bytes": limit})) as store:
            session = store.create_session(id="victim", name="victim")
            record(store, session.id, 3)
            store.get_state(session.id)
            before = (history(store, session.id), store.list_sessions())

            with pytest.raises(case.error, match=case.message):
                case.call(store, session.id)

            assert (history(store, session.id), store.list_sessions()) == before
            assert store.append(session.id, new_event("still.works")).seq == 4
            assert store.get_state(session.id).event_count == 4

    def test_the_size_limit_is_an_option(self, open_store: Any) -> None:
        with open_store(max_payload_bytes=100) as store:
            session = store.create_session()
            store.append(session.id, new_event("small", {"text": "x" * 80}))
            with pytest.raises(InvalidEventError, match="over the limit of 100"):
                store.append(session.id, new_event("big", {"text": "x" * 100}))
            assert store.get_session(session.id).event_count == 1

    def test_input_errors_are_also_value_errors(self, store: Store) -> None:
        with pytest.raises(ValueError):  # noqa: PT011 - the base class is the point
            store.create_session(id="../x")
        with pytest.raises(ValueError):  # noqa: PT011
            new_event("Bad Type")
