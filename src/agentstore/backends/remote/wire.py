"""What travels between a store's server and its remote clients, in both directions.

The one description of the HTTP API's bodies, shared by the server
(:mod:`agentstore.server`) and the remote backends, so that the two cannot disagree:

- an event stored is the seed's JSON record (a JSONL log's line): a list of events is
  JSON lines (``application/x-ndjson``), parsed in one pass;
- an event to append is a draft: ``{"type", "payload", "metadata", "id"}``, checked by
  the server as :func:`agentstore.new_event` checks it;
- a session, a snapshot and a problem are their ``to_dict`` forms;
- an error is ``{"error": {"type": "SessionNotFoundError", "message": ..., ...}}``, with
  the HTTP status of its kind, and is raised by the client as the same class with the
  same message and attributes.

Everything read from the other side is checked: a body that is not what it should be
raises a typed error, never a ``KeyError`` from deep inside.
"""

from __future__ import annotations

import errno as errnos
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from agentstore.backends.base import Problem
from agentstore.backends.codec import LineError, decode_events, encode_event
from agentstore.errors import (
    AccessDeniedError,
    AgentStoreError,
    ConcurrencyError,
    CorruptLogError,
    EventLoopError,
    InvalidArgumentError,
    InvalidEventError,
    InvalidSessionIdError,
    ReadOnlyStoreError,
    SessionExistsError,
    SessionNotFoundError,
    StorageError,
    StoreClosedError,
    StoreNotFoundError,
    StoreVersionError,
)
from agentstore.events import Event, new_event
from agentstore.metadata import Metadata
from agentstore.sessions import Session, SessionUpdate
from agentstore.state import Snapshot

__all__ = [
    "API",
    "CURSOR_HEADER",
    "JSON_LINES",
    "decode_draft",
    "decode_lines",
    "decode_problem",
    "decode_session",
    "decode_snapshot",
    "decode_update",
    "encode_draft",
    "encode_error",
    "encode_lines",
    "encode_update",
    "error_from",
    "error_of",
    "status_of",
]

#: The prefix of every route of this version of the API.
API = "/v1"
#: The media type of a list of events: one JSON record per line.
JSON_LINES = "application/x-ndjson"
#: The response header of a page of events that carries the backend's cursor.
CURSOR_HEADER = "agentstore-cursor"

# Each error class, with its HTTP status and the attributes that travel with it.
_KINDS: dict[str, tuple[type[AgentStoreError], int, tuple[str, ...]]] = {
    kind.__name__: (kind, status, fields)
    for kind, status, fields in (
        (SessionNotFoundError, 404, ("session_id",)),
        (SessionExistsError, 409, ("session_id",)),
        (ConcurrencyError, 409, ("session_id", "expected", "actual")),
        (InvalidEventError, 400, ("path", "reason")),
        (InvalidSessionIdError, 400, ()),
        (InvalidArgumentError, 400, ()),
        (ReadOnlyStoreError, 403, ("operation",)),
        (AccessDeniedError, 401, ()),
        (CorruptLogError, 500, ("path", "line", "reason")),
        (StoreNotFoundError, 500, ("where", "reason")),
        (StoreVersionError, 500, ("where", "found", "supported")),
        (EventLoopError, 500, ()),
        (StoreClosedError, 503, ()),
        (StorageError, 503, ()),
    )
}


def status_of(error: AgentStoreError) -> int:
    """The HTTP status of an error's kind (its nearest known class's)."""
    for kind in type(error).__mro__:
        known = _KINDS.get(kind.__name__)
        if known is not None and known[0] is kind:
            return known[1]
    return 500


def encode_error(error: AgentStoreError) -> dict[str, Any]:
    """An error as a response body: its class, message and attributes."""
    name = next(
        (kind.__name__ for kind in type(error).__mro__ if kind.__name__ in _KINDS),
        "AgentStoreError",
    )
    body: dict[str, Any] = {"type": name, "message": str(error)}
    if isinstance(error, StorageError):
        body["errno"] = error.errno or 0
    for field in _KINDS[name][2] if name in _KINDS else ():
        body[field] = getattr(error, field, None)
    return {"error": body}


def error_from(status: int, body: bytes) -> AgentStoreError:
    """The error a response with ``status`` and ``body`` reports, as the server raised it.

    A body that names no error of agentstore's (a proxy's page, a server's bare 500)
    gives the closest kind for its status, with what the body says.
    """
    try:
        found = orjson.loads(body)["error"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return _for_status(status, body)
    return error_of(found, status, body)


def error_of(found: Any, status: int = 500, body: bytes = b"") -> AgentStoreError:
    """The error an ``{"type": ..., "message": ...}`` object names (see :func:`error_from`)."""
    try:
        name, message = found["type"], found["message"]
        if not isinstance(name, str) or not isinstance(message, str):
            raise TypeError(name)
    except (KeyError, TypeError):
        return _for_status(status, body or b"an error the server did not name")
    if name not in _KINDS:
        return _for_status(status, message.encode())
    kind, _, fields = _KINDS[name]
    if kind is StorageError:
        code = found.get("errno")
        return StorageError(code if type(code) is int else errnos.EIO, message)
    error = kind.__new__(kind)
    Exception.__init__(error, message)
    for field in fields:
        setattr(error, field, found.get(field))
    return error


def _for_status(status: int, body: bytes) -> AgentStoreError:
    text = body.decode("utf-8", "replace").strip()[:500] or f"HTTP status {status}"
    if status in (401, 403):
        return AccessDeniedError(f"the server refused the request ({status}): {text}")
    if status == 404:
        return InvalidArgumentError(f"the server has no such route (404): {text}")
    if status in (400, 405, 413, 415, 422):
        return InvalidArgumentError(f"the server refused the request ({status}): {text}")
    return StorageError(errnos.EIO, f"the server failed ({status}): {text}")


def encode_lines(events: Sequence[Event]) -> bytes:
    """Events as JSON lines, each the seed's record of the event."""
    return b"".join(map(encode_event, events))


def decode_lines(data: bytes) -> list[Event]:
    """The events of JSON lines (:func:`encode_lines`).

    Raises:
        InvalidEventError: a line is not an event record.
    """
    if data and not data.endswith(b"\n"):
        data += b"\n"
    try:
        return decode_events(data)
    except LineError as error:
        raise InvalidEventError(f"line {error.index + 1} is not an event: {error}") from None
    except ValueError as error:
        raise InvalidEventError(f"not an event record: {error}") from None


def encode_draft(event: Event) -> dict[str, Any]:
    """An event to append: what its author chose (the store gives its seq and time)."""
    draft: dict[str, Any] = {"id": event.id, "type": event.type, "payload": event.payload}
    metadata = event.metadata.to_dict()
    if metadata:
        draft["metadata"] = metadata
    return draft


def decode_draft(draft: object, index: int | None = None) -> Event:
    """An event to append, from a request: checked as :func:`agentstore.new_event` checks.

    Raises:
        InvalidEventError: the draft is not an object, or a field is bad (the path says
            which, with the index of the draft in its batch).
    """
    where = "" if index is None else f"events[{index}]"
    if not isinstance(draft, dict):
        raise InvalidEventError(f"an event is a JSON object, not {_kind(draft)}", path=where)
    unknown = sorted(set(draft) - {"id", "type", "payload", "metadata"})
    if unknown:
        raise InvalidEventError(
            f"unknown field {', '.join(map(repr, unknown))} (an event to append has id, "
            "type, payload and metadata; the store gives its seq and time)",
            path=where,
        )
    if "type" not in draft:
        raise InvalidEventError("an event needs a type", path=where)
    try:
        metadata = draft.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise InvalidEventError(f"metadata must be a JSON object, not {_kind(metadata)}")
        return new_event(
            draft["type"],
            draft.get("payload"),
            metadata=Metadata.from_dict(metadata) if metadata else None,
            id=draft.get("id"),
        )
    except InvalidEventError as error:
        path = ".".join(part for part in (where, error.path) if part)
        raise InvalidEventError(error.reason, path=path) from None
    except (TypeError, ValueError) as error:
        raise InvalidEventError(str(error), path=where) from None


def decode_session(record: object) -> Session:
    """A session from its ``to_dict`` form.

    Raises:
        InvalidArgumentError: the record is not a session's.
    """
    try:
        return Session.from_dict(record)  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise InvalidArgumentError(f"not a session record: {error!r}") from None


def encode_update(update: SessionUpdate) -> dict[str, Any]:
    """A change to a session's name and labels, as a request body."""
    body: dict[str, Any] = {}
    if update.name is not None:
        body["name"] = update.name
    if update.labels:
        body["labels"] = dict(update.labels)
    if update.removed:
        body["remove_labels"] = sorted(update.removed)
    return body


def decode_update(body: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    """The ``name``, ``labels`` and ``remove_labels`` of an update, as a store checks them."""
    unknown = sorted(set(body) - {"name", "labels", "remove_labels"})
    if unknown:
        raise InvalidArgumentError(
            f"unknown field {', '.join(map(repr, unknown))}: a session update has name, "
            "labels and remove_labels"
        )
    return body.get("name"), body.get("labels"), body.get("remove_labels")


def decode_snapshot(record: object) -> Snapshot:
    """A snapshot from its ``to_dict`` form.

    Raises:
        InvalidArgumentError: the record is not a snapshot's.
    """
    try:
        return Snapshot.from_dict(record)  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise InvalidArgumentError(f"not a snapshot record: {error!r}") from None


def decode_problem(record: object) -> Problem:
    """A problem of stored data from its JSON form (``session_id``, ``where``, ...)."""
    if not isinstance(record, dict):
        raise InvalidArgumentError(f"not a problem record: {record!r:.100}")
    try:
        session_id, where, reason = (
            str(record[name]) for name in ("session_id", "where", "reason")
        )
    except KeyError as error:
        raise InvalidArgumentError(f"not a problem record: no {error}") from None
    return Problem(session_id, where, reason, str(record.get("severity", "error")))


def _kind(value: object) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )
