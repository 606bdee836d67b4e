"""Payload checking: what may go into an event, copied as plain JSON (pure, no I/O).

A payload is stored as JSON by every durable backend and read back by other programs, so
the store accepts exactly what round-trips through JSON unchanged: dicts with str keys,
lists (tuples become lists), str, 64-bit integers, finite floats, bool and None. Anything
else (NaN, bytes, sets, datetimes, objects, int keys, cycles, lone surrogates) is refused
with the path of the bad value, before anything is written, instead of being silently
converted or failing halfway through a write.
"""

from __future__ import annotations

import json
from typing import Any

from agentstore.errors import InvalidEventError
from agentstore.frozen import FrozenDict, FrozenList

__all__ = [
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "MAX_DEPTH",
    "check_integer",
    "check_text",
    "copy_payload",
    "encoded_size",
]

DEFAULT_MAX_PAYLOAD_BYTES = 1 << 20
MAX_DEPTH = 64
# Integers must fit in 64 bits (signed or unsigned): what JSON libraries of other
# languages, and the fast encoder of the file backend, read and write exactly.
_INT_MIN, _INT_MAX = -(1 << 63), (1 << 64) - 1
# The size estimate counts the characters of strings and keys plus one byte for every
# value and one for each comma of a list: a lower bound of the encoded size. At most 6
# bytes a character (\u00XX) and 24 a number make 26 times the estimate an upper bound.
_UPPER_PER_ESTIMATED_BYTE = 26

_HINTS = {
    "bytes": "decode it to str or encode it as base64",
    "bytearray": "decode it to str or encode it as base64",
    "set": "use a list",
    "frozenset": "use a list",
    "datetime": "use an ISO 8601 string",
    "date": "use an ISO 8601 string",
    "Decimal": "use a float or a str",
    "UUID": "use str(value)",
}


_CONTAINERS = frozenset({dict, list, tuple, FrozenDict, FrozenList})
_EMPTY = FrozenDict()


class _InvalidValueError(Exception):
    """A bad value deep in a payload; each level adds its key on the way out."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.keys: list[object] = []


class _TooDeepError(Exception):
    """The payload nests deeper than MAX_DEPTH (or contains itself)."""


class _TooLargeError(Exception):
    """The payload's size estimate, a lower bound, is already over the limit."""


class _NotPlainJSONError(Exception):
    """Not a plain JSON type: try the subclass conversions."""


def copy_payload(value: Any, max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES) -> Any:
    """Return a private, frozen plain-JSON copy of ``value``; ``None`` becomes ``{}``.

    The copy keeps later changes to the caller's objects out of the stored event, and its
    dicts and lists are :mod:`frozen <agentstore.frozen>`, so no one who reads the event
    can change it either.

    Raises:
        InvalidEventError: ``value`` is not plain JSON, nests deeper than 64 levels, or
            encodes to more than ``max_bytes`` bytes. The message names the path, e.g.
            ``payload['steps'][2]``.
    """
    if value is None:
        return _EMPTY
    try:
        if type(value) is dict:  # the usual payload: one call less
            copied, estimate = _copy_dict(value, 0, max_bytes)
        else:
            copied, estimate = _copy(value, 0, max_bytes)
    except _InvalidValueError as bad:
        raise InvalidEventError(bad.reason, path=_path(reversed(bad.keys))) from None
    except _TooDeepError:
        raise _depth_error(value) from None
    except _TooLargeError:
        # Stopping early also bounds the work on a payload that repeats one list inside
        # itself (x = [x, x] twenty times encodes to megabytes from a few objects).
        raise InvalidEventError(
            f"is larger than the limit of {max_bytes} bytes", path="payload"
        ) from None
    if estimate * _UPPER_PER_ESTIMATED_BYTE > max_bytes:
        # Only payloads that may be near the limit pay for an exact encoding.
        size = encoded_size(copied)
        if size > max_bytes:
            raise InvalidEventError(
                f"encodes to {size} bytes, over the limit of {max_bytes}", path="payload"
            )
    return copied


def encoded_size(value: Any) -> int:
    """Return the size in bytes of ``value``'s compact UTF-8 JSON encoding."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return len(text.encode("utf-8"))


def check_text(text: str, what: str) -> str:
    """Return ``text`` as a plain str if it is valid Unicode, else raise InvalidEventError."""
    try:
        return _text(text)
    except _InvalidValueError as bad:
        raise InvalidEventError(bad.reason, path=what) from None


def check_integer(number: int, what: str) -> int:
    """Return ``number`` if it fits in 64 bits, else raise InvalidEventError."""
    try:
        return _integer(number)
    except _InvalidValueError as bad:
        raise InvalidEventError(bad.reason, path=what) from None


def _copy(value: Any, depth: int, limit: int) -> tuple[Any, int]:
    """Copy one value; return the copy and its size estimate."""
    kind = type(value)
    if kind is dict or kind is FrozenDict:
        return _copy_dict(value, depth, limit)
    if kind is list or kind is tuple or kind is FrozenList:
        return _copy_list(value, depth, limit)
    try:
        return _copy_scalar(value), len(value) + 1 if kind is str else 1
    except _NotPlainJSONError:
        return _copy_subclass(value, depth, limit)


def _copy_scalar(value: Any) -> Any:
    """Return a JSON scalar as is, or raise _InvalidValueError (containers go to _copy)."""
    kind = type(value)
    if kind is str:
        if not value.isascii():  # O(1) in CPython; only non-ASCII text can hold surrogates
            _check_unicode(value)
        return value
    if kind is int:
        return value if _INT_MIN <= value <= _INT_MAX else _integer(value)
    if kind is float:
        if value - value == 0.0:  # false for NaN and the infinities, faster than isfinite
            return value
        raise _InvalidValueError(f"{value} is not valid JSON (use None or a string)")
    if kind is bool or value is None:
        return value
    raise _NotPlainJSONError


def _copy_dict(value: dict[Any, Any], depth: int, limit: int) -> tuple[FrozenDict, int]:
    if depth >= MAX_DEPTH:
        raise _TooDeepError
    out = {}
    estimate = 1
    for key, item in value.items():
        if type(key) is not str:
            key = _key(key)
        elif not key.isascii():
            _check_unicode(key)
        # Scalars are checked inline: a call per value would double the cost of the
        # typical flat payload.
        kind = type(item)
        try:
            if kind is str:
                if not item.isascii():
                    _check_unicode(item)
                out[key] = item
                estimate += len(key) + len(item) + 2
                continue
            if kind in _CONTAINERS:  # given what is left of the limit: it stops sooner
                out[key], item_estimate = _copy(item, depth + 1, limit - estimate)
                if estimate + item_estimate > limit:
                    raise _TooLargeError
            else:
                try:
                    out[key] = _copy_scalar(item)
                    item_estimate = 1
                except _NotPlainJSONError:
                    out[key], item_estimate = _copy_subclass(item, depth + 1, limit)
        except _InvalidValueError as bad:
            bad.keys.append(key)
            raise
        estimate += item_estimate + len(key) + 1
    return FrozenDict(out), estimate


def _copy_list(
    value: list[Any] | tuple[Any, ...], depth: int, limit: int
) -> tuple[FrozenList, int]:
    if depth >= MAX_DEPTH:
        raise _TooDeepError
    out = []
    estimate = 1
    for index, item in enumerate(value):
        kind = type(item)
        try:
            if kind in _CONTAINERS:
                copied, item_estimate = _copy(item, depth + 1, limit - estimate)
                if estimate + item_estimate > limit:
                    raise _TooLargeError
            else:
                try:
                    copied = _copy_scalar(item)
                    item_estimate = len(item) + 1 if kind is str else 1
                except _NotPlainJSONError:
                    copied, item_estimate = _copy_subclass(item, depth + 1, limit)
        except _InvalidValueError as bad:
            bad.keys.append(index)
            raise
        out.append(copied)
        estimate += item_estimate + 1  # and its comma, or the closing bracket
    return FrozenList(out), estimate


def _copy_subclass(value: Any, depth: int, limit: int) -> tuple[Any, int]:
    """Copy a value that is not of an exact JSON type, or raise _InvalidValueError."""
    # Subclasses of the JSON types (str enums, IntEnum, OrderedDict, NamedTuple...) are
    # stored as their plain base type, which is what a JSON round trip gives back.
    if isinstance(value, bool):
        return bool(value), 1
    if isinstance(value, str):
        return _copy(str.__str__(value), depth, limit)
    if isinstance(value, int):
        return _copy(int(value), depth, limit)
    if isinstance(value, float):
        return _copy(float(value), depth, limit)
    if isinstance(value, dict):
        return _copy_dict(value, depth, limit)
    if isinstance(value, (list, tuple)):
        return _copy_list(value, depth, limit)
    name = type(value).__name__
    hint = _HINTS.get(name)
    raise _InvalidValueError(f"{name} is not a JSON type" + (f" ({hint})" if hint else ""))


def _key(key: object) -> str:
    if isinstance(key, str):
        return _text(key)
    raise _InvalidValueError(
        f"dict key {key!r} is a {type(key).__name__}; JSON object keys must be str"
    )


def _text(text: object) -> str:
    if not isinstance(text, str):
        raise _InvalidValueError(f"must be a str, not {type(text).__name__}")
    plain = str.__str__(text)
    if not plain.isascii():
        _check_unicode(plain)
    return plain


def _check_unicode(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise _InvalidValueError(
            f"string has a lone surrogate {text[error.start]!r} at index {error.start} "
            "(not valid Unicode)"
        ) from None


def _integer(number: int) -> int:
    if _INT_MIN <= number <= _INT_MAX:
        return number
    raise _InvalidValueError(
        f"an integer of {number.bit_length()} bits does not fit in 64 bits (store it as a string)"
    )


def _path(keys: Any) -> str:
    return "payload" + "".join(f"[{key!r}]" for key in keys)


def _depth_error(value: Any) -> InvalidEventError:
    cycle = _find_cycle(value, [])
    if cycle is not None:
        return InvalidEventError("contains a reference cycle (not JSON)", path=_path(cycle))
    return InvalidEventError(f"nests deeper than {MAX_DEPTH} levels", path="payload")


def _find_cycle(value: Any, on_path: list[int]) -> list[object] | None:
    """Return the keys leading to a container that contains itself, if there is one."""
    if not isinstance(value, (dict, list, tuple)) or len(on_path) > MAX_DEPTH:
        return None
    if id(value) in on_path:
        return []
    on_path.append(id(value))
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        found = _find_cycle(item, on_path)
        if found is not None:
            return [key, *found]
    on_path.pop()
    return None
