"""Each backend operation as one HTTP call, decided once for the sync and async backends.

A :class:`Call` says what to send, how to read the answer and whether it may be sent
again when the connection breaks; the two remote backends only send it
(:class:`~agentstore.backends.remote.backend.RemoteBackend` and
:class:`~agentstore.backends.remote.async_backend.AsyncRemoteBackend`, through
:mod:`~agentstore.backends.remote.transport`). No I/O here.

What is sent again: a call that never reached the server (the connection was refused)
always; after the connection broke with the request sent, only a call whose repeat
changes nothing: a read, an update of a name or labels, and an append, whose events
carry ids, so a repeat returns the events stored by the first and writes nothing.
"""

from __future__ import annotations

import errno as errnos
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import orjson

from agentstore.backends.base import AppendRequest, Problem
from agentstore.backends.codec import event_from_record
from agentstore.backends.remote import wire
from agentstore.errors import AccessDeniedError, AgentStoreError, InvalidEventError, StorageError
from agentstore.events import Event
from agentstore.sessions import Session, SessionUpdate
from agentstore.state import Snapshot

__all__ = ["PAGES_AHEAD", "RUNS", "Call", "PageKey", "broken", "is_whole", "next_page", "pause"]

_T = TypeVar("_T")
#: How many times a call is sent at most when its connection breaks.
RUNS = 3
_PAUSES = (0.05, 0.25, 1.0)


@dataclass(frozen=True, slots=True)
class Call(Generic[_T]):
    """One HTTP request of a backend operation, and how its answer is read."""

    method: str
    path: str
    answer: Callable[[int, Mapping[str, str], bytes], _T]
    params: Mapping[str, str | int] | None = None
    body: bytes | None = None
    #: Whether it may be sent again after the connection broke with it sent.
    repeatable: bool = True
    #: Whether its answer, when it succeeds, is events as JSON lines, which the backend
    #: decodes as they arrive (the call is then a ``Call[list[Event]]``).
    streams: bool = False

    def again(self, attempt: int, *, sent: bool) -> bool:
        """Whether to send it once more after attempt ``attempt`` (from 0) failed to connect."""
        return attempt + 1 < RUNS and (self.repeatable or not sent)


def pause(attempt: int) -> float:
    """Seconds to wait before sending again after attempt ``attempt`` failed."""
    return _PAUSES[min(attempt, len(_PAUSES) - 1)]


def broken(url: str, error: BaseException, *, sent: bool, timed_out: bool) -> StorageError:
    """The error of a call whose every attempt failed to reach the server."""
    if timed_out:
        code, what = errnos.ETIMEDOUT, "did not answer in time"
    elif not sent:
        code, what = errnos.ECONNREFUSED, "cannot be reached"
    else:
        code, what = errnos.ECONNRESET, "broke the connection"
    return StorageError(code, f"the store's server at {url} {what}: {error}")


def _session_path(session_id: str, tail: str = "") -> str:
    return f"{wire.API}/sessions/{quote(session_id, safe='')}{tail}"


def _checked(status: int, body: bytes) -> None:
    if status >= 400:
        raise wire.error_from(status, body)


def _object(status: int, body: bytes) -> Any:
    _checked(status, body)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise wire.error_from(500, b"the server's answer is not JSON") from None


def _session(status: int, headers: Mapping[str, str], body: bytes) -> Session:
    return wire.decode_session(_object(status, body))


def _events(status: int, headers: Mapping[str, str], body: bytes) -> list[Event]:
    _checked(status, body)
    return wire.decode_lines(body)


def _nothing(status: int, headers: Mapping[str, str], body: bytes) -> None:
    _checked(status, body)


def _json(value: Any) -> bytes:
    return orjson.dumps(value)


def create_session(session: Session, history: Sequence[Event]) -> Call[Session]:
    record = session.to_dict()
    record.pop("event_count", None)
    if history:
        record["history"] = [event.to_dict() for event in history]
    return Call("POST", f"{wire.API}/sessions", _session, body=_json(record), repeatable=False)


def get_session(session_id: str) -> Call[Session]:
    return Call("GET", _session_path(session_id), _session)


def last_seq(session_id: str) -> Call[int]:
    def answer(status: int, headers: Mapping[str, str], body: bytes) -> int:
        return _session(status, headers, body).event_count

    return Call("GET", _session_path(session_id), answer)


def list_sessions(limit: int, offset: int, labels: Mapping[str, str] | None) -> Call[list[Session]]:
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    if labels:
        params["label"] = [f"{key}={value}" for key, value in labels.items()]

    def answer(status: int, headers: Mapping[str, str], body: bytes) -> list[Session]:
        found = _object(status, body)
        records = found.get("sessions") if isinstance(found, dict) else None
        if not isinstance(records, list):
            raise wire.error_from(500, b"the server's answer lists no sessions")
        return [wire.decode_session(record) for record in records]

    return Call("GET", f"{wire.API}/sessions", answer, params=params)


def update_session(session_id: str, update: SessionUpdate) -> Call[Session]:
    body = _json(wire.encode_update(update))
    return Call("PATCH", _session_path(session_id), _session, body=body)


def delete_session(session_id: str) -> Call[Session]:
    return Call("DELETE", _session_path(session_id), _session, repeatable=False)


def append(session_id: str, events: Sequence[Event], expected_seq: int | None) -> Call[list[Event]]:
    body: dict[str, Any] = {"events": [wire.encode_draft(event) for event in events]}
    if expected_seq is not None:
        body["expected_seq"] = expected_seq
    return Call("POST", _session_path(session_id, "/events"), _events, body=_json(body))


def append_many(requests: Sequence[AppendRequest]) -> Call[list[list[Event] | AgentStoreError]]:
    """Several appends in one request, each all or none and answered on its own."""
    body = {
        "appends": [
            {
                "session_id": session_id,
                "events": [wire.encode_draft(event) for event in events],
                **({} if expected_seq is None else {"expected_seq": expected_seq}),
            }
            for session_id, events, expected_seq in requests
        ]
    }

    def answer(
        status: int, headers: Mapping[str, str], data: bytes
    ) -> list[list[Event] | AgentStoreError]:
        found = _object(status, data)
        results = found.get("results") if isinstance(found, dict) else None
        if not isinstance(results, list) or len(results) != len(requests):
            raise wire.error_from(500, b"the server's answer does not hold every append's")
        return [_outcome(result) for result in results]

    return Call("POST", f"{wire.API}/appends", answer, body=_json(body))


def _outcome(result: Any) -> list[Event] | AgentStoreError:
    if isinstance(result, dict) and "error" in result:
        return wire.error_of(result["error"])
    records = result.get("events") if isinstance(result, dict) else None
    if not isinstance(records, list):
        return wire.error_of(None)
    try:
        return [event_from_record(record) for record in records]
    except ValueError as error:
        return InvalidEventError(f"not an event record: {error}")


def import_events(session_id: str, events: Sequence[Event]) -> Call[None]:
    body = _json({"events": [event.to_dict() for event in events]})
    return Call("POST", _session_path(session_id, "/import"), _nothing, body=body, repeatable=False)


def read(session_id: str, from_seq: int, to_seq: int | None) -> Call[list[Event]]:
    params: dict[str, Any] = {"from_seq": from_seq}
    if to_seq is not None:
        params["to_seq"] = to_seq
    return Call("GET", _session_path(session_id, "/events"), _events, params=params, streams=True)


def read_page(
    session_id: str, from_seq: int, to_seq: int | None, limit: int, cursor: int | None
) -> Call[tuple[list[Event], int | None]]:
    params: dict[str, Any] = {"from_seq": from_seq, "limit": limit}
    if to_seq is not None:
        params["to_seq"] = to_seq
    if cursor is not None:
        params["cursor"] = cursor

    def answer(
        status: int, headers: Mapping[str, str], body: bytes
    ) -> tuple[list[Event], int | None]:
        events = _events(status, headers, body)
        after = headers.get(wire.CURSOR_HEADER)
        return events, int(after) if after is not None and after.isdigit() else None

    return Call("GET", _session_path(session_id, "/events"), answer, params=params)


#: A page of events asked for: session id, from_seq, to_seq, limit and cursor.
PageKey = tuple[str, int, int | None, int, int | None]
#: How many pages read ahead a backend keeps for iterations that may never ask for them.
PAGES_AHEAD = 4


def next_page(asked: PageKey, events: Sequence[Event], cursor: int | None) -> PageKey | None:
    """The page an iteration asks for after ``asked``, which gave ``events`` and
    ``cursor``; None if it asks for none (a short page ends it)."""
    if not is_whole(asked, events):
        return None
    session_id, _, to_seq, limit, _ = asked
    return session_id, events[-1].seq + 1, to_seq, limit, cursor


def is_whole(asked: PageKey, events: Sequence[Event]) -> bool:
    """Whether ``events`` fill the page ``asked``, to its limit or its ``to_seq``.

    A page read ahead that is not whole found the end of the log when it was read, not
    when the iteration asked for it: it is read again, so that the iteration yields what
    was appended meanwhile.
    """
    _, _, to_seq, limit, _ = asked
    if len(events) == limit:
        return True
    return to_seq is not None and bool(events) and events[-1].seq >= to_seq


def read_snapshot(session_id: str) -> Call[Snapshot | None]:
    def answer(status: int, headers: Mapping[str, str], body: bytes) -> Snapshot | None:
        found = _object(status, body)
        record = found.get("snapshot") if isinstance(found, dict) else None
        return None if record is None else wire.decode_snapshot(record)

    return Call("GET", _session_path(session_id, "/snapshot"), answer)


def write_snapshot(snapshot: Snapshot) -> Call[None]:
    body = _json(snapshot.to_dict())
    return Call("PUT", _session_path(snapshot.session_id, "/snapshot"), _nothing, body=body)


def check(session_id: str) -> Call[list[Problem]]:
    def answer(status: int, headers: Mapping[str, str], body: bytes) -> list[Problem]:
        found = _object(status, body)
        records = found.get("problems") if isinstance(found, dict) else None
        return [wire.decode_problem(record) for record in records or []]

    return Call("GET", _session_path(session_id, "/verify"), answer)


def health() -> Call[dict[str, Any]]:
    """Whether an agentstore server answers, and whether its store is read-only."""

    def answer(status: int, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        found = _object(status, body) if status < 400 else None
        if not isinstance(found, dict) or found.get("status") != "ok":
            raise wire.error_from(status if status >= 400 else 500, body)
        if found.get("access") not in ("read", "write"):
            raise AccessDeniedError(
                "the server does not accept this token (give token=..., or set AGENTSTORE_TOKEN)"
            )
        return found

    return Call("GET", f"{wire.API}/health", answer)
