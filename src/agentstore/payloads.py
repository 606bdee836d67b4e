"""Payload checking: what may go into an event, copied as plain JSON (pure, no I/O).

A payload is stored as JSON by every durable backend and read back by other programs, so
the store accepts exactly what round-trips through JSON unchanged: dicts with str keys,
lists (tuples become lists), str, int, finite float, bool and None. Anything else (NaN,
bytes, sets, datetimes, objects, int keys, cycles) is refused with the path of the bad
value, before anything is written, instead of being silently converted or failing halfway
through a write.
"""

from __future__ import annotations

import json
from typing import Any

from agentstore.errors import InvalidEventError

__all__ = ["DEFAULT_MAX_PAYLOAD_BYTES", "MAX_DEPTH", "copy_payload", "encoded_size"]

DEFAULT_MAX_PAYLOAD_BYTES = 1 << 20
MAX_DEPTH = 64
_INT64 = 1 << 63
_MAX_INT_BITS = 13_000  # about 3,900 digits: below CPython's int-to-str limit of 4,300
# Upper bound of an encoded scalar other than str: a float's repr is at most 24 bytes and
# an int within 64 bits 20; larger ints are rare enough to be over-counted by _check_big_int.
_SCALAR_BOUND = 26

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


class _InvalidValueError(Exception):
    """A bad value deep in a payload; each level adds its key on the way out."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.keys: list[object] = []


class _TooDeepError(Exception):
    """The payload nests deeper than MAX_DEPTH (or contains itself)."""


class _NotPlainJSONError(Exception):
    """Not a plain JSON type: try the subclass conversions."""


def copy_payload(value: Any, max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES) -> Any:
    """Return a private plain-JSON copy of ``value``; ``None`` becomes ``{}``.

    The copy keeps later changes to the caller's objects out of the stored event.

    Raises:
        InvalidEventError: ``value`` is not plain JSON, nests deeper than 64 levels, or
            encodes to more than ``max_bytes`` bytes. The message names the path, e.g.
            ``payload['steps'][2]``.
    """
    if value is None:
        return {}
    try:
        if type(value) is dict:  # the usual payload: one call less
            copied, size_bound = _copy_dict(value, 0)
        else:
            copied, size_bound = _copy(value, 0)
    except _InvalidValueError as bad:
        raise InvalidEventError(bad.reason, path=_path(reversed(bad.keys))) from None
    except _TooDeepError:
        raise _depth_error(value) from None
    if size_bound > max_bytes:
        # The walk's estimate is an upper bound; only payloads near the limit pay for
        # an exact encoding.
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


def _copy(value: Any, depth: int) -> tuple[Any, int]:
    """Copy one value; return the copy and an upper bound of its encoded size."""
    kind = type(value)
    if kind is dict:
        return _copy_dict(value, depth)
    if kind is list or kind is tuple:
        return _copy_list(value, depth)
    try:
        return _copy_scalar(value), 6 * len(value) + 2 if kind is str else _SCALAR_BOUND
    except _NotPlainJSONError:
        return _copy_subclass(value, depth)


def _copy_scalar(value: Any) -> Any:
    """Return a JSON scalar as is, or raise _InvalidValueError (containers go to _copy)."""
    kind = type(value)
    if kind is str:
        if not value.isascii():  # O(1) in CPython; only non-ASCII text can hold surrogates
            _check_unicode(value)
        return value
    if kind is int:
        if -_INT64 <= value < _INT64:
            return value
        return _check_big_int(value)
    if kind is float:
        if value - value == 0.0:  # false for NaN and the infinities, faster than isfinite
            return value
        raise _InvalidValueError(f"{value} is not valid JSON (use None or a string)")
    if kind is bool or value is None:
        return value
    raise _NotPlainJSONError


def _copy_dict(value: dict[Any, Any], depth: int) -> tuple[dict[str, Any], int]:
    if depth >= MAX_DEPTH:
        raise _TooDeepError
    out = {}
    bound = 2
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
                bound += 6 * (len(key) + len(item)) + 6
                continue
            if kind is dict or kind is list or kind is tuple:
                out[key], item_bound = _copy(item, depth + 1)
            else:
                try:
                    out[key] = _copy_scalar(item)
                    item_bound = _SCALAR_BOUND
                except _NotPlainJSONError:
                    out[key], item_bound = _copy_subclass(item, depth + 1)
        except _InvalidValueError as bad:
            bad.keys.append(key)
            raise
        bound += item_bound + 6 * len(key) + 4
    return out, bound


def _copy_list(value: list[Any] | tuple[Any, ...], depth: int) -> tuple[list[Any], int]:
    if depth >= MAX_DEPTH:
        raise _TooDeepError
    out = []
    bound = 2
    for index, item in enumerate(value):
        kind = type(item)
        try:
            if kind is dict or kind is list or kind is tuple:
                copied, item_bound = _copy(item, depth + 1)
            else:
                try:
                    copied = _copy_scalar(item)
                    item_bound = 6 * len(item) + 2 if kind is str else _SCALAR_BOUND
                except _NotPlainJSONError:
                    copied, item_bound = _copy_subclass(item, depth + 1)
        except _InvalidValueError as bad:
            bad.keys.append(index)
            raise
        out.append(copied)
        bound += item_bound + 1
    return out, bound


def _copy_subclass(value: Any, depth: int) -> tuple[Any, int]:
    """Copy a value that is not of an exact JSON type, or raise _InvalidValueError."""
    # Subclasses of the JSON types (str enums, IntEnum, OrderedDict, NamedTuple...) are
    # stored as their plain base type, which is what a JSON round trip gives back.
    if isinstance(value, bool):
        return bool(value), 5
    if isinstance(value, str):
        return _copy(str.__str__(value), depth)
    if isinstance(value, int):
        return _copy(int(value), depth)
    if isinstance(value, float):
        return _copy(float(value), depth)
    if isinstance(value, dict):
        return _copy_dict(value, depth)
    if isinstance(value, (list, tuple)):
        return _copy_list(value, depth)
    name = type(value).__name__
    hint = _HINTS.get(name)
    raise _InvalidValueError(f"{name} is not a JSON type" + (f" ({hint})" if hint else ""))


def _key(key: object) -> str:
    if isinstance(key, str):
        return str.__str__(key)
    raise _InvalidValueError(
        f"dict key {key!r} is a {type(key).__name__}; JSON object keys must be str"
    )


def _check_unicode(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise _InvalidValueError(
            f"string has a lone surrogate {text[error.start]!r} at index {error.start} "
            "(not valid Unicode)"
        ) from None


def _check_big_int(number: int) -> int:
    bits = number.bit_length()
    if bits > _MAX_INT_BITS:
        raise _InvalidValueError(
            f"integer of {bits} bits is too large (at most {_MAX_INT_BITS} bits)"
        )
    return number


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
