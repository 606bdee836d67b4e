"""The event model: event types and the immutable :class:`Event` (pure, no I/O)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from agentstore import timestamps
from agentstore.errors import InvalidArgumentError, InvalidEventError
from agentstore.frozen import freeze as _freeze
from agentstore.ids import new_event_id
from agentstore.metadata import EMPTY_METADATA, Metadata
from agentstore.payloads import check_text

__all__ = ["UNSET_TIME", "Event", "EventType", "Metadata", "new_event"]

UNSET_TIME = timestamps.UNSET
"""The timestamp of an event not yet appended (the zero time of the seed library)."""


class EventType(StrEnum):
    """The event types every agent records; any other short identifier is a custom type."""

    USER_MESSAGE = "user_message"
    PLAN_CREATED = "plan_created"
    TOOL_CALLED = "tool_called"
    TOOL_RESULT = "tool_result"
    LLM_REQUEST = "llm_request"
    LLM_RESPONSE = "llm_response"
    STATE_UPDATED = "state_updated"
    ERROR = "error"
    CUSTOM = "custom"


_new_object = object.__new__
_typeof = type  # the builtin, for functions whose ``type`` argument shadows it
_TYPE_NAME = re.compile(r"[a-z][a-z0-9_.:-]{0,63}")
# Known names (and the names already checked) map to their canonical plain ``str``, so
# checking a type on the hot path is one dict lookup, and Event.type is never an enum.
_type_names: dict[str, str] = {t.value: t.value for t in EventType}
_TYPE_NAME_CACHE_LIMIT = 4096


def type_name(value: object) -> str:
    """Return the canonical event type name for ``value``, or raise InvalidEventError."""
    try:
        return _type_names[value]  # type: ignore[index]
    except (KeyError, TypeError):
        pass
    if not isinstance(value, str):
        raise InvalidEventError(
            f"event type must be an EventType or str, not {type(value).__name__}", path="type"
        )
    if _TYPE_NAME.fullmatch(value) is None:
        raise InvalidEventError(
            f"bad event type name {value!r}: use 1-64 characters from a-z 0-9 _ . : -, "
            "starting with a letter",
            path="type",
        )
    name = str.__str__(value)
    if len(_type_names) < _TYPE_NAME_CACHE_LIMIT:
        _type_names[name] = name
    return name


def stored_type_name(kind: object) -> str:
    """Return a stored event's type name as it is: any text another program wrote.

    Only a new event's type is held to :func:`type_name`'s rule; refusing a stored one
    would make its whole session unreadable.

    Raises:
        InvalidEventError: ``kind`` is not a str.
    """
    if not isinstance(kind, str):
        raise InvalidEventError(f"event type must be a str, not {_typeof(kind).__name__}")
    return _type_names.get(kind) or str.__str__(kind)


class Event:
    """One immutable thing an agent did, as stored in a session's log.

    Build events with :func:`new_event`; the store assigns ``session_id``, ``seq`` and
    ``timestamp`` when it appends one and returns the stored event. Before that, ``seq`` is
    0, ``session_id`` is ``""`` and ``timestamp`` is :data:`UNSET_TIME`.

    ``payload`` is a plain JSON value (dict, list, str, int, float, bool or None). Events
    are immutable: their fields are read-only properties. The payload of a stored event
    is shared with the store, so treat it as read-only too.

    An event written by another program is read as it is: its type may be any text
    (:func:`new_event` accepts only short identifiers), its metadata may hold fields this
    library does not know (:attr:`Metadata.unknown_fields`), and its time may be precise
    to the nanosecond (:attr:`timestamp_ns`); all of it is written back by copies and
    re-serialization.
    """

    # Read-only properties over private slots rather than a frozen dataclass: a frozen
    # dataclass's __init__ goes through object.__setattr__ for every field (720 ns for
    # seven), plain slot stores take 120 ns, and events are built on every append.

    __slots__ = (
        "_id",
        "_metadata",
        "_nanos",
        "_payload",
        "_seq",
        "_session_id",
        "_timestamp",
        "_type",
    )

    def __init__(
        self,
        type: EventType | str,
        payload: Any = None,
        *,
        id: str | None = None,
        metadata: Metadata | None = None,
        session_id: str = "",
        seq: int = 0,
        timestamp: datetime = UNSET_TIME,
    ) -> None:
        _check_metadata(metadata)
        if id is not None:
            _check_id(id)
        try:
            timestamp = timestamps.check(timestamp)
        except InvalidArgumentError as error:
            raise InvalidEventError(str(error), path="timestamp") from None
        if _typeof(seq) is not int or seq < 0:
            raise InvalidEventError(f"seq must be a non-negative int, not {seq!r}", path="seq")
        self._id = new_event_id() if id is None else id
        self._session_id = session_id
        self._seq = seq
        self._type = type_name(type)
        self._payload = payload
        self._timestamp = timestamp
        self._nanos = 0
        self._metadata = EMPTY_METADATA if metadata is None else metadata

    @property
    def id(self) -> str:
        """The event's unique id within its session (appending it again is a no-op)."""
        return self._id

    @property
    def session_id(self) -> str:
        """The session the event belongs to (``""`` before it is appended)."""
        return self._session_id

    @property
    def seq(self) -> int:
        """The event's position in its session, from 1 (0 before it is appended)."""
        return self._seq

    @property
    def type(self) -> str:
        """The event type name: one of :class:`EventType`'s values or a custom name."""
        return self._type

    @property
    def payload(self) -> Any:
        """The event's data, a plain JSON value."""
        return self._payload

    @property
    def timestamp(self) -> datetime:
        """When the store appended the event (UTC, microseconds)."""
        return self._timestamp

    @property
    def timestamp_ns(self) -> int:
        """When the store appended the event, in nanoseconds since the Unix epoch.

        Exact for an event another program wrote to the nanosecond (the seed library
        does), whose :attr:`timestamp` is cut to the microsecond.
        """
        return timestamps.epoch_nanoseconds(self._timestamp, self._nanos)

    @property
    def metadata(self) -> Metadata:
        """Tokens, cost, model, tool and timing facts."""
        return self._metadata

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return (
            self._id == other._id
            and self._session_id == other._session_id
            and self._seq == other._seq
            and self._type == other._type
            and self._timestamp == other._timestamp
            and self._nanos == other._nanos
            and self._payload == other._payload
            and self._metadata == other._metadata
        )

    def __hash__(self) -> int:
        return hash((self._id, self._session_id, self._seq))

    def __repr__(self) -> str:
        return (
            f"Event(id={self._id!r}, session_id={self._session_id!r}, seq={self._seq}, "
            f"type={self._type!r}, payload={self._payload!r}, "
            f"timestamp={self._timestamp.isoformat()!r}, metadata={self._metadata!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild,
            (
                self._id,
                self._session_id,
                self._seq,
                self._type,
                self._payload,
                self._timestamp,
                self._metadata,
                self._nanos,
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the seed's JSON form (``sequence_number``, ...) plus the event ``id``."""
        return {
            "session_id": self._session_id,
            "sequence_number": self._seq,
            "type": self._type,
            "payload": self._payload,
            "timestamp": timestamps.to_text(self._timestamp, self._nanos),
            "metadata": self._metadata.to_dict(),
            "id": self._id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        """Build an event from its JSON form, as written by agentstore or another program.

        The type is taken as it is (another program's may be any text), and so are
        metadata fields unknown here and the nanoseconds of the time.

        Raises:
            InvalidEventError: a field is missing or of the wrong type.
        """
        try:
            kind = stored_type_name(data["type"])
            moment, nanoseconds = timestamps.parse(data["timestamp"])
            event = cls(
                EventType.CUSTOM,  # replaced below: a stored type is taken as it is
                {} if data.get("payload") is None else data["payload"],
                id=data.get("id") or _legacy_id(data),
                metadata=Metadata.from_dict(data.get("metadata") or {}),
                session_id=data["session_id"],
                seq=data["sequence_number"],
                timestamp=moment,
            )
        except KeyError as missing:
            raise InvalidEventError(f"event record has no {missing.args[0]!r} field") from None
        except (TypeError, ValueError) as error:
            raise InvalidEventError(f"bad event record: {error}") from None
        event._type = kind
        event._nanos = nanoseconds
        return event


def _legacy_id(data: Mapping[str, Any]) -> str:
    # The seed library stored no event ids; a stable id derived from the position keeps
    # idempotent appends and copies between stores meaningful for its data.
    return f"seq-{data['sequence_number']}"


def _rebuild(
    id: str,
    session_id: str,
    seq: int,
    type: str,
    payload: Any,
    timestamp: datetime,
    metadata: Metadata,
    nanoseconds: int = 0,
) -> Event:
    return stored_event(id, session_id, seq, type, payload, timestamp, metadata, nanoseconds)


def stored_event(
    id: str,
    session_id: str,
    seq: int,
    type: str,
    payload: Any,
    timestamp: datetime,
    metadata: Metadata,
    nanoseconds: int = 0,
) -> Event:
    """Build an event from trusted, already validated parts (the store's own fast path).

    It skips ``__init__``'s checks; filling the slots directly costs about a sixth of a
    frozen dataclass's constructor (120 ns against 720 ns here). The payload is frozen
    (:func:`agentstore.frozen.freeze`; a payload frozen before is kept as it is): every
    event a store gives out, stored, read or decoded, is read-only to the last list.
    ``nanoseconds`` are those of the time beyond ``timestamp`` (0-999), which another
    program may have written.
    """
    event = _new_object(Event)
    event._id = id
    event._session_id = session_id
    event._seq = seq
    event._type = type
    event._payload = _freeze(payload)
    event._timestamp = timestamp
    event._nanos = nanoseconds
    event._metadata = metadata
    return event


def place(event: Event, session_id: str, seq: int, timestamp: datetime) -> None:
    """Give a prepared event its session, seq and time, in place: the append's last step.

    Only for the private copy :func:`agentstore.core.sequencing.prepare` makes, which no
    one else sees until the store returns it; the backend places it under its session's
    lock. Every other event is built whole and never changes.
    """
    event._session_id = session_id
    event._seq = seq
    event._timestamp = timestamp


def new_event(
    type: EventType | str,
    payload: Any = None,
    *,
    metadata: Metadata | None = None,
    id: str | None = None,
) -> Event:
    """Create an event to append to a session.

    Args:
        type: an :class:`EventType` or a custom type name (1-64 characters from
            ``a-z0-9_.:-``, starting with a letter).
        payload: the event's data, a plain JSON value; ``None`` is stored as ``{}``.
        metadata: tokens, cost, model, tool and timing facts.
        id: the event's id, for idempotent appends; generated when not given.

    Raises:
        InvalidEventError: the type name, metadata or id is bad. The payload is checked
            when the event is appended.
    """
    if id is not None:
        return Event(type, payload, id=id, metadata=metadata)
    if metadata is None:
        metadata = EMPTY_METADATA
    elif _typeof(metadata) is not Metadata:
        _check_metadata(metadata)
    try:
        name = _type_names[type]
    except (KeyError, TypeError):
        name = type_name(type)
    # Built inline rather than through stored_event(): new_event runs once per append.
    event = _new_object(Event)
    event._id = new_event_id()
    event._session_id = ""
    event._seq = 0
    event._type = name
    event._payload = payload
    event._timestamp = UNSET_TIME
    event._nanos = 0
    event._metadata = metadata
    return event


def _check_id(event_id: object) -> None:
    if not isinstance(event_id, str) or not event_id or len(event_id) > 128:
        raise InvalidEventError(f"event id must be a str of 1-128 characters, not {event_id!r}")
    if "\x00" in event_id:  # no database keeps NUL in text
        raise InvalidEventError(f"event id {event_id!r} contains a NUL character", path="id")
    check_text(event_id, "id")


def _check_metadata(metadata: object) -> None:
    if metadata is not None and not isinstance(metadata, Metadata):
        raise InvalidEventError(
            f"metadata must be a Metadata, not {_typeof(metadata).__name__}", path="metadata"
        )
