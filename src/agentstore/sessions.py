"""Sessions: the per-agent-run logs a store holds (pure, no I/O)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from agentstore import timestamps
from agentstore.errors import InvalidArgumentError, InvalidEventError
from agentstore.payloads import check_text

__all__ = ["Session", "SessionUpdate", "check_labels", "check_name", "check_update"]

MAX_NAME_LENGTH = 256
MAX_LABEL_LENGTH = 256
_NO_LABELS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Session:
    """A session: one agent run's log, with its name, labels and fork origin.

    ``updated_at`` is the time of the last event, or ``created_at`` while there is none
    (and for a fork whose copied history is older than the fork itself), and
    ``event_count`` the number of events. A fork records the session it came from in
    ``parent_id`` and the seq it was forked at in ``forked_at_seq``; both are None otherwise.
    """

    id: str
    name: str = ""
    labels: Mapping[str, str] = field(default_factory=lambda: _NO_LABELS)
    created_at: datetime = field(default_factory=timestamps.now)
    updated_at: datetime = timestamps.UNSET
    event_count: int = 0
    parent_id: str | None = None
    forked_at_seq: int | None = None

    def __post_init__(self) -> None:
        if self.updated_at is timestamps.UNSET or self.updated_at < self.created_at:
            object.__setattr__(self, "updated_at", self.created_at)
        if not isinstance(self.labels, MappingProxyType):
            object.__setattr__(self, "labels", MappingProxyType(dict(self.labels)))

    def __hash__(self) -> int:
        return hash(self.id)

    def __reduce__(self) -> tuple[Any, ...]:
        # The read-only view of ``labels`` does not pickle; its dict does.
        return (
            Session,
            (
                self.id,
                self.name,
                dict(self.labels),
                self.created_at,
                self.updated_at,
                self.event_count,
                self.parent_id,
                self.forked_at_seq,
            ),
        )

    @property
    def last_seq(self) -> int:
        """The seq of the last event (sessions are gapless, so it equals ``event_count``)."""
        return self.event_count

    def to_dict(self) -> dict[str, Any]:
        """Return the seed's JSON form; empty name and labels and unset fork fields are omitted."""
        out: dict[str, Any] = {"id": self.id}
        if self.name:
            out["name"] = self.name
        out["created_at"] = timestamps.to_text(self.created_at)
        out["updated_at"] = timestamps.to_text(self.updated_at)
        out["event_count"] = self.event_count
        if self.labels:
            out["labels"] = dict(self.labels)
        if self.parent_id is not None:
            out["parent_id"] = self.parent_id
            out["forked_at_seq"] = self.forked_at_seq
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Session:
        """Build a session from its JSON form, as written by agentstore or the seed library.

        Raises:
            KeyError, TypeError, ValueError: the record is malformed.
        """
        created_at = timestamps.from_text(data["created_at"])
        updated = data.get("updated_at")
        return cls(
            id=data["id"],
            name=data.get("name") or "",
            labels=check_labels(data.get("labels") or {}),
            created_at=created_at,
            updated_at=timestamps.from_text(updated) if updated else created_at,
            event_count=int(data.get("event_count") or 0),
            parent_id=data.get("parent_id"),
            forked_at_seq=data.get("forked_at_seq"),
        )


def check_name(name: object) -> str:
    """Return ``name`` if it is a valid session name, else raise InvalidArgumentError."""
    if not isinstance(name, str):
        raise InvalidArgumentError(f"session name must be a str, not {type(name).__name__}")
    if len(name) > MAX_NAME_LENGTH or "\x00" in name:
        raise InvalidArgumentError(
            f"session name must be at most {MAX_NAME_LENGTH} characters without NUL"
        )
    return _text(name, "session name")


def _text(text: str, what: str) -> str:
    try:
        return check_text(text, what)
    except InvalidEventError as error:
        raise InvalidArgumentError(str(error)) from None


def check_labels(labels: object) -> Mapping[str, str]:
    """Return a read-only copy of ``labels``, or raise InvalidArgumentError if not str to str."""
    if labels is None:
        return _NO_LABELS
    if not isinstance(labels, Mapping):
        raise InvalidArgumentError(
            f"labels must be a mapping of str to str, not {type(labels).__name__}"
        )
    for key, value in labels.items():
        if not isinstance(key, str) or not isinstance(value, str) or not key:
            raise InvalidArgumentError(
                f"labels must map non-empty str keys to str values, got {key!r}: {value!r}"
            )
        if len(key) > MAX_LABEL_LENGTH or len(value) > MAX_LABEL_LENGTH:
            raise InvalidArgumentError(
                f"label {key[:40]!r} is longer than {MAX_LABEL_LENGTH} characters"
            )
        if "\x00" in key or "\x00" in value:  # no database keeps NUL in text
            raise InvalidArgumentError(f"label {key[:40]!r} contains a NUL character")
    if not labels:
        return _NO_LABELS
    return MappingProxyType(
        {_text(k, "label"): _text(v, f"label {k!r}") for k, v in labels.items()}
    )


@dataclass(frozen=True, slots=True)
class SessionUpdate:
    """A change of a session's name and labels, checked (see :func:`check_update`).

    ``name`` replaces the name unless it is None; ``labels`` are set (added, or changed
    when the session has the key), then the keys in ``removed`` are taken away. A backend
    applies it with :meth:`apply` to the session as stored, under its lock, so concurrent
    changes of different labels all hold.
    """

    name: str | None = None
    labels: Mapping[str, str] = field(default_factory=lambda: _NO_LABELS)
    removed: frozenset[str] = frozenset()

    def apply(self, session: Session) -> Session:
        """``session`` with this change made (the same object when nothing changes)."""
        labels = {**session.labels, **self.labels}
        for key in self.removed:
            labels.pop(key, None)
        name = session.name if self.name is None else self.name
        if name == session.name and labels == session.labels:
            return session
        return dataclasses.replace(session, name=name, labels=labels)


def check_update(name: object, labels: object, remove_labels: object) -> SessionUpdate:
    """The change ``update_session`` makes, its arguments checked.

    Raises:
        InvalidArgumentError: a bad name or labels, ``remove_labels`` not an iterable of
            label keys, or a key both set and removed.
    """
    removed = _label_keys(remove_labels)
    update = SessionUpdate(
        name=None if name is None else check_name(name),
        labels=check_labels(labels),
        removed=removed,
    )
    both = sorted(removed & update.labels.keys())
    if both:
        raise InvalidArgumentError(f"label {both[0][:40]!r} is both set and removed")
    return update


def _label_keys(keys: object) -> frozenset[str]:
    if keys is None:
        return frozenset()
    if isinstance(keys, str | bytes) or not isinstance(keys, Iterable):
        raise InvalidArgumentError(
            f"remove_labels must be an iterable of label keys, not {type(keys).__name__}"
        )
    try:
        found = frozenset(keys)
    except TypeError:  # an unhashable key
        raise InvalidArgumentError("label keys to remove must be non-empty str") from None
    for key in found:
        if not isinstance(key, str) or not key:
            raise InvalidArgumentError(f"label keys to remove must be non-empty str, not {key!r}")
    return found
