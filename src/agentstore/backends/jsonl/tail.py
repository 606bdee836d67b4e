"""Telling a torn tail from damage in a log's new bytes (pure, no I/O).

A crash can only damage what was written after the last fsync: the last commit. Its lines
all carry the commit's one time, and every line of a batch but its last says
``"more": 1``.
So, in bytes read after a known good point:

- a trailing part without a newline is torn;
- a line holding NUL bytes (blocks whose size reached the disk and whose data did not)
  starts a torn tail, if every complete line after it belongs to one commit (one time);
- a last line that is not JSON is torn;
- lines saying more is coming, at the end, are a batch never completed: torn;
- anything else that is not the next event of the session is damage: it is reported,
  never cut.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from agentstore.backends.codec import event_from_record
from agentstore.events import Event

__all__ = ["Damage", "Line", "clean_last_line", "line_offset", "scan"]


@dataclass(frozen=True, slots=True)
class Line:
    """A good line: its event and where it ends in the bytes scanned."""

    event: Event
    start: int
    end: int


class Damage(Exception):  # noqa: N818 - a finding handed to the caller, who reports it
    """Line ``index`` (from 0) of the bytes scanned is damaged, not torn."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(reason)
        self.index = index
        self.reason = reason


def scan(data: bytes, *, session_id: str, next_seq: int | None) -> list[Line]:
    """Return the good lines at the start of ``data``; what follows them is torn.

    ``next_seq`` is the seq the first line must hold (None: any, for a tail read from
    the middle of a file).

    Raises:
        Damage: a line that is neither good nor part of a torn tail.
    """
    end = _complete_end(data)
    nul = data.find(b"\x00", 0, end)
    if nul >= 0:
        torn_from = data.rfind(b"\n", 0, nul) + 1
        _check_one_commit(data[torn_from:end], index=data.count(b"\n", 0, torn_from))
        end = torn_from
    raws = data[:end].split(b"\n")[:-1]
    lines: list[Line] = []
    more: list[bool] = []  # whether each line says more of its batch follows
    position = 0
    for index, raw in enumerate(raws):
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError:
            if index == len(raws) - 1:
                break  # a torn last line
            raise Damage(index, "not valid JSON") from None
        event = _event(record, index, session_id)
        expected = next_seq + index if next_seq is not None else None
        if expected is None and lines:
            expected = lines[-1].event.seq + 1
        if expected is not None and event.seq != expected:
            problem = "duplicate" if event.seq < expected else "missing"
            raise Damage(index, f"{problem} seq: expected {expected}, found {event.seq}")
        lines.append(Line(event, position, position + len(raw) + 1))
        more.append(bool(record.get("more")))
        position += len(raw) + 1
    while more and more[-1]:  # a batch whose last line never reached the disk
        more.pop()
        lines.pop()
    return lines


def _complete_end(data: bytes) -> int:
    return data.rfind(b"\n") + 1


def _event(record: object, index: int, session_id: str) -> Event:
    try:
        event = event_from_record(record)
    except ValueError as error:
        raise Damage(index, str(error)) from None
    if event.session_id != session_id:
        raise Damage(index, f"a record of session {event.session_id!r}")
    return event


def _check_one_commit(torn: bytes, *, index: int) -> None:
    """Raise Damage unless the complete lines of ``torn`` after its NULs share one time."""
    times, more = set(), []
    for raw in torn.split(b"\n")[1:]:  # the first holds the NULs
        if not raw or b"\x00" in raw:
            continue
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if isinstance(record, dict):
            times.add(record.get("timestamp"))
            more.append(bool(record.get("more")))
    one_batch = all(more[:-1])  # a copied batch keeps its events' times, in one commit
    if len(times) > 1 and not one_batch:
        raise Damage(index, "zero bytes in the middle of the log")


def clean_last_line(data: bytes, session_id: str) -> tuple[Event, int] | None:
    """The last line's event and start, if the data ends cleanly with a good, whole line."""
    if not data.endswith(b"\n") or b"\x00" in data:
        return None
    line_start = data.rfind(b"\n", 0, len(data) - 1) + 1
    try:
        record = orjson.loads(data[line_start:-1])
        event = event_from_record(record)
    except (orjson.JSONDecodeError, ValueError):
        return None
    if event.session_id != session_id or record.get("more"):
        return None  # let the full scan say what is wrong, or cut an unfinished batch
    return event, line_start


def line_offset(data: bytes, index: int) -> int:
    """Where line ``index`` (from 0) of ``data`` starts."""
    position = 0
    for _ in range(index):
        position = data.index(b"\n", position) + 1
    return position
