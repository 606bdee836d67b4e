"""LangGraph checkpoints as event payloads: encoding, deltas and folding (pure, no I/O).

A checkpoint event holds either a full version of the checkpoint (``"full": true``: every
channel value) or what changed since its base (the checkpoint it was put after): the
channel values set, the list values extended (only the new items) and dropped, and the
version maps' changed keys. A value is JSON where it is plain JSON, else LangGraph's typed
bytes in base64.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from agentstore.errors import missing_extra
from agentstore.events import Event

try:
    from langgraph.checkpoint.base import WRITES_IDX_MAP, Checkpoint, writes_sort_key
    from langgraph.checkpoint.serde.base import SerializerProtocol
except ModuleNotFoundError as missing:
    raise missing_extra(missing, "langgraph", "agentstore.integrations.langgraph") from None

__all__ = [
    "CHECKPOINT",
    "REMOVED",
    "WRITES",
    "Materialized",
    "ThreadIndex",
    "checkpoint_payload",
    "decode",
    "encode",
    "find_chain",
    "find_path",
    "fold_chain",
    "fold_steps",
    "writes_payload",
]

CHECKPOINT = "langgraph.checkpoint"
"""A checkpoint put: ``ns``, ``id``, ``parent``, ``metadata``, and its full or delta state."""
WRITES = "langgraph.writes"
"""Writes put for a checkpoint: ``ns``, ``checkpoint``, ``task_id``, ``task_path``, ``writes``."""
REMOVED = "langgraph.removed"
"""Checkpoints removed (by delete_for_runs or prune): ``checkpoints``, ``[ns, id]`` pairs."""

MIN_FULL_BYTES = 64 * 1024
"""Deltas since the last full version may add up to this before a new full version."""

_RECORD_KEYS = ("v", "id", "ts", "channel_values", "channel_versions", "versions_seen")
_MISSING = object()


def _plain(value: Any) -> bool:
    # Exact types only: a tuple or a str subclass would come back as something else.
    kind = type(value)
    if kind in (str, int, bool) or value is None:
        return True
    if kind is float:
        return value == value and value not in (float("inf"), float("-inf"))
    if kind is list:
        return all(_plain(item) for item in value)
    if kind is dict:
        return all(type(key) is str and _plain(item) for key, item in value.items())
    return False


def encode(serde: SerializerProtocol, value: Any) -> dict[str, Any]:
    """``{"json": value}`` for plain JSON, else ``{"type": ..., "base64": ...}``."""
    if _plain(value):
        return {"json": value}
    kind, data = serde.dumps_typed(value)
    return {"type": kind, "base64": base64.b64encode(data).decode("ascii")}


def decode(serde: SerializerProtocol, encoded: Mapping[str, Any]) -> Any:
    """The value :func:`encode` encoded (a copy: stored payloads are shared)."""
    if "json" in encoded:
        value = encoded["json"]
        return orjson.loads(orjson.dumps(value)) if isinstance(value, list | dict) else value
    return serde.loads_typed((encoded["type"], base64.b64decode(encoded["base64"])))


@dataclass(slots=True)
class Materialized:
    """One checkpoint as put, its channel values decoded, and where its chain starts."""

    id: str
    parent: str | None
    record: dict[str, Any]  # v, ts, versions, seen, updated, extra (encoded)
    values: dict[str, Any]
    seq: int = 0
    full_seq: int = 0  # the seq of the full version its chain starts at
    full_bytes: int = 0  # the size of that full version's payload
    since_bytes: int = 0  # the sizes of the deltas since, this one's included

    def checkpoint(self, serde: SerializerProtocol) -> Checkpoint:
        """The checkpoint as LangGraph put it (containers copied, values shared)."""
        record = self.record
        result: dict[str, Any] = {
            "v": record["v"],
            "id": self.id,
            "ts": record["ts"],
            "channel_values": dict(self.values),
            "channel_versions": dict(record["versions"]),
            "versions_seen": {node: dict(seen) for node, seen in record["seen"].items()},
            "updated_channels": record["updated"],
        }
        for key, encoded in record["extra"].items():
            result[key] = decode(serde, encoded)
        return result  # type: ignore[return-value]


# Deltas


def _dict_delta(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    changed = {key: value for key, value in new.items() if old.get(key, _MISSING) != value}
    return {"set": changed, "drop": [key for key in old if key not in new]}


def _apply_dict_delta(old: Mapping[str, Any], delta: Mapping[str, Any]) -> dict[str, Any]:
    result = {key: value for key, value in old.items() if key not in delta["drop"]}
    result.update(delta["set"])
    return result


def _extends(old: Any, new: Any) -> bool:
    # The common case of a growing conversation: the same message objects, more of them.
    if type(old) is not list or type(new) is not list or len(new) < len(old):
        return False
    return all(a is b or a == b for a, b in zip(old, new, strict=False))


def _values(
    checkpoint: Checkpoint, new_versions: Mapping[str, Any], parent: Materialized | None
) -> dict[str, Any]:
    # As LangGraph's savers do, a channel's value is kept with its version: a channel
    # whose version did not change keeps its parent's value, whatever is passed.
    given = checkpoint["channel_values"]
    old_versions = parent.record["versions"] if parent is not None else {}
    values: dict[str, Any] = {}
    for channel, version in checkpoint["channel_versions"].items():
        kept = channel not in new_versions and parent is not None and channel in parent.values
        if kept and old_versions.get(channel) == version:
            values[channel] = parent.values[channel]  # type: ignore[union-attr]
        elif channel in given:
            values[channel] = given[channel]
    return values


def _value_delta(
    serde: SerializerProtocol, old: Mapping[str, Any], new: Mapping[str, Any]
) -> dict[str, Any]:
    changed: dict[str, Any] = {}
    extended: dict[str, list[Any]] = {}
    for channel, value in new.items():
        before = old.get(channel, _MISSING)
        if before is value:
            continue
        if _extends(before, value):
            if len(value) > len(before):
                extended[channel] = [encode(serde, item) for item in value[len(before) :]]
        else:
            changed[channel] = encode(serde, value)
    dropped = [channel for channel in old if channel not in new]
    return {"set": changed, "extend": extended, "drop": dropped}


def checkpoint_payload(
    serde: SerializerProtocol,
    ns: str,
    checkpoint: Checkpoint,
    metadata: Any,
    new_versions: Mapping[str, Any],
    parent_id: str | None,
    parent: Materialized | None,
) -> tuple[dict[str, Any], Materialized]:
    """The payload of a checkpoint event, and the checkpoint it materializes to.

    The payload is a delta against ``parent`` (the checkpoint put before, materialized)
    unless there is none or the deltas since the chain's full version would outweigh it
    (so a read never folds more than about twice the state); then it is a full version.
    The returned checkpoint's ``seq`` (and a full version's ``full_seq``) are set once the
    event is stored.
    """
    values = _values(checkpoint, new_versions, parent)
    record: dict[str, Any] = {
        "v": checkpoint["v"],
        "ts": checkpoint["ts"],
        "versions": dict(checkpoint["channel_versions"]),
        "seen": {node: dict(seen) for node, seen in checkpoint["versions_seen"].items()},
        "updated": checkpoint.get("updated_channels"),
        "extra": {
            key: encode(serde, value)
            for key, value in checkpoint.items()
            if key not in _RECORD_KEYS and key != "updated_channels"
        },
    }
    head: dict[str, Any] = {"ns": ns, "id": checkpoint["id"], "parent": parent_id}
    head["metadata"] = encode(serde, metadata)
    head.update(v=record["v"], ts=record["ts"], updated=record["updated"], extra=record["extra"])
    materialized = Materialized(checkpoint["id"], parent_id, record, values)
    if parent is not None:
        delta = {
            **head,
            "full": False,
            "base": parent.id,
            "full_seq": parent.full_seq,
            "versions": _dict_delta(parent.record["versions"], record["versions"]),
            "seen": _dict_delta(parent.record["seen"], record["seen"]),
            "values": _value_delta(serde, parent.values, values),
        }
        size = len(orjson.dumps(delta))
        if parent.since_bytes + size <= max(parent.full_bytes, MIN_FULL_BYTES):
            materialized.full_seq = parent.full_seq
            materialized.full_bytes = parent.full_bytes
            materialized.since_bytes = parent.since_bytes + size
            return delta, materialized
    full = {
        **head,
        "full": True,
        "versions": record["versions"],
        "seen": record["seen"],
        "values": {channel: encode(serde, value) for channel, value in values.items()},
    }
    materialized.full_bytes = len(orjson.dumps(full))
    return full, materialized


def find_chain(events: Sequence[Event], ns: str, checkpoint_id: str) -> list[Event]:
    """The events that materialize ``checkpoint_id``: its full version first, then deltas.

    ``events`` are a range of a session's events ending at the checkpoint's; each delta's
    base is the latest event of that id before it. Empty if the range lacks a link.
    """
    wanted: str | None = checkpoint_id
    chain: list[Event] = []
    for event in reversed(events):
        payload = event.payload
        if event.type != CHECKPOINT or payload.get("ns") != ns or payload.get("id") != wanted:
            continue
        chain.append(event)
        if payload["full"]:
            chain.reverse()
            return chain
        wanted = payload["base"]
    return []


def find_path(events: Sequence[Event], ns: str, checkpoint_id: str) -> list[Event]:
    """The events of ``checkpoint_id`` and of its ancestors in ``events``, oldest first,
    from the oldest full version among them: the chains of several full versions.

    ``events`` are a range of a session's events ending at the checkpoint's.
    """
    wanted: str | None = checkpoint_id
    path: list[Event] = []
    for event in reversed(events):
        payload = event.payload
        if event.type != CHECKPOINT or payload.get("ns") != ns or payload.get("id") != wanted:
            continue
        path.append(event)
        wanted = payload["parent"] if payload["full"] else payload["base"]
    while path and not path[-1].payload["full"]:  # their full version is before the range
        path.pop()
    path.reverse()
    return path


def fold_chain(serde: SerializerProtocol, chain: Sequence[Event]) -> Materialized:
    """The checkpoint that ``chain`` (from :func:`find_chain`) materializes."""
    return fold_steps(serde, chain)[-1]


def fold_steps(serde: SerializerProtocol, path: Sequence[Event]) -> list[Materialized]:
    """Every checkpoint along ``path`` (from :func:`find_chain` or :func:`find_path`)
    materialized, in order: a full version as stored, a delta on the one before."""
    steps: list[Materialized] = []
    for event in path:
        full = event.payload["full"]
        steps.append(_from_full(serde, event) if full else _apply(serde, steps[-1], event))
    return steps


def _record(payload: Mapping[str, Any], versions: Any, seen: Any) -> dict[str, Any]:
    return {
        "v": payload["v"],
        "ts": payload["ts"],
        "versions": versions,
        "seen": seen,
        "updated": payload["updated"],
        "extra": payload["extra"],
    }


def _from_full(serde: SerializerProtocol, event: Event) -> Materialized:
    payload = event.payload
    record = _record(
        payload,
        dict(payload["versions"]),
        {node: dict(seen) for node, seen in payload["seen"].items()},
    )
    values = {channel: decode(serde, value) for channel, value in payload["values"].items()}
    size = len(orjson.dumps(payload))
    return Materialized(
        payload["id"], payload["parent"], record, values, event.seq, event.seq, size, 0
    )


def _apply(serde: SerializerProtocol, base: Materialized, event: Event) -> Materialized:
    payload = event.payload
    delta = payload["values"]
    values = {key: value for key, value in base.values.items() if key not in delta["drop"]}
    for channel, encoded in delta["set"].items():
        values[channel] = decode(serde, encoded)
    for channel, items in delta["extend"].items():
        values[channel] = [*base.values[channel], *(decode(serde, item) for item in items)]
    record = _record(
        payload,
        _apply_dict_delta(base.record["versions"], payload["versions"]),
        _apply_dict_delta(base.record["seen"], payload["seen"]),
    )
    since = base.since_bytes + len(orjson.dumps(payload))
    return Materialized(
        payload["id"],
        payload["parent"],
        record,
        values,
        event.seq,
        base.full_seq,
        base.full_bytes,
        since,
    )


# Writes


def writes_payload(
    serde: SerializerProtocol,
    ns: str,
    checkpoint_id: str,
    writes: Sequence[tuple[str, Any]],
    task_id: str,
    task_path: str,
) -> dict[str, Any]:
    """The payload of a writes event: each write with its LangGraph index, in order."""
    return {
        "ns": ns,
        "checkpoint": checkpoint_id,
        "task_id": task_id,
        "task_path": task_path,
        "writes": [
            {
                "idx": WRITES_IDX_MAP.get(channel, index),
                "channel": channel,
                "value": encode(serde, value),
            }
            for index, (channel, value) in enumerate(writes)
        ],
    }


# The index of a thread: what each checkpoint is, where it is, and its writes.


@dataclass(slots=True)
class Entry:
    """Where a checkpoint's event is, its parent and its metadata (encoded)."""

    seq: int
    full_seq: int
    parent: str | None
    metadata: dict[str, Any]


# (task_id, idx) -> (task_id, channel, encoded value, task_path)
Writes = dict[tuple[str, int], tuple[str, str, dict[str, Any], str]]


@dataclass(slots=True)
class ThreadIndex:
    """A thread's checkpoints by namespace and id, as of the session's event ``seq``."""

    seq: int = 0
    checkpoints: dict[str, dict[str, Entry]] = field(default_factory=dict)
    writes: dict[tuple[str, str], Writes] = field(default_factory=dict)

    def fold(self, events: Iterable[Event]) -> None:
        """Fold the session's events after ``seq`` into the index, in order."""
        for event in events:
            if event.seq <= self.seq:
                continue
            self.seq = event.seq
            payload = event.payload
            if not isinstance(payload, dict):
                continue
            if event.type == CHECKPOINT:
                self._checkpoint(event.seq, payload)
            elif event.type == WRITES:
                self._writes(payload)
            elif event.type == REMOVED:
                for ns, checkpoint_id in payload["checkpoints"]:
                    self.checkpoints.get(ns, {}).pop(checkpoint_id, None)
                    self.writes.pop((ns, checkpoint_id), None)

    def _checkpoint(self, seq: int, payload: Mapping[str, Any]) -> None:
        full_seq = seq if payload["full"] else payload["full_seq"]
        entry = Entry(seq, full_seq, payload["parent"], payload["metadata"])
        self.checkpoints.setdefault(payload["ns"], {})[payload["id"]] = entry

    def _writes(self, payload: Mapping[str, Any]) -> None:
        stored = self.writes.setdefault((payload["ns"], payload["checkpoint"]), {})
        task_id, task_path = payload["task_id"], payload["task_path"]
        for write in payload["writes"]:
            key = (task_id, write["idx"])
            if key[1] >= 0 and key in stored:  # a task's regular writes are put once
                continue
            stored[key] = (task_id, write["channel"], write["value"], task_path)

    def pending_writes(
        self, serde: SerializerProtocol, ns: str, checkpoint_id: str
    ) -> list[tuple[str, str, Any]]:
        """The checkpoint's writes in the order LangGraph applies them."""
        stored = self.writes.get((ns, checkpoint_id), {})
        order = sorted(stored, key=lambda key: writes_sort_key(stored[key][3], *key))
        return [(stored[key][0], stored[key][1], decode(serde, stored[key][2])) for key in order]

    def latest(self, ns: str) -> str | None:
        """The id of the namespace's latest checkpoint (ids sort in time order)."""
        entries = self.checkpoints.get(ns)
        return max(entries) if entries else None
