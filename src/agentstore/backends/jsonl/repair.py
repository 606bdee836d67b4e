"""Repairing a damaged log: its damaged lines moved aside, verbatim, and the session read again.

A read stops at a damaged line in the middle of a log (:class:`CorruptLogError`); a
repair makes the session readable again without losing a byte. What it decides is pure
(:func:`plan_repair`):

- a line that is not an event of the session (not UTF-8, not JSON, not an event record,
  another session's, zero bytes, half a line), a line repeating a seq or an event id
  already kept, a line whose seq leaves a gap that a line soon after fills (its seq is
  the wrong one), and, at the end, a torn line or a batch whose last line never reached
  the disk, are moved into the quarantine file beside the log
  (``events/<id>.jsonl.quarantine``), each with its line number, the reason and its
  exact bytes;
- every other line is kept byte for byte, with its seq;
- a seq missing between kept lines (its line was lost or damaged) gets an event of type
  ``agentstore.lost`` saying so: seqs run 1, 2, 3... again, every kept event keeps its
  seq, and appends continue after the last (a damaged line after the last good one
  leaves no gap: its seq goes to the next append, as a torn tail's does);
- the snapshot is removed if it covers a seq that changed, or cannot be read: state is
  folded again from the repaired log.

The steps on disk (:func:`repair_log`), under the log's lock so that no append of this
process or another is lost: the quarantine file appended and fsync'd; a stale snapshot
removed, its directory fsync'd; the new log written under ``tmp/``, fsync'd, renamed over
the old one, its directory fsync'd. A crash at any point leaves the old log or the new
one, never neither; a repair run again after a crash finds what is left to do.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from datetime import datetime

import orjson

from agentstore import timestamps
from agentstore.backends.base import translating
from agentstore.backends.codec import decode_snapshot, encode_event, encode_session
from agentstore.backends.jsonl.backend import JsonlBackend
from agentstore.backends.jsonl.checks import Reading, read_line
from agentstore.backends.jsonl.files import Files
from agentstore.events import Event, stored_event
from agentstore.ids import new_event_id
from agentstore.metadata import EMPTY_METADATA

__all__ = [
    "LOST_EVENT_TYPE",
    "MAX_FILLED",
    "LogRepair",
    "QuarantinedLine",
    "RepairPlan",
    "plan_repair",
    "repair_log",
]

#: The type of the event that stands for one whose line was lost.
LOST_EVENT_TYPE = "agentstore.lost"
#: The most seqs filled at one gap: a line whose seq jumps further is damaged, not a sign
#: of that many lost lines, and is quarantined.
MAX_FILLED = 10_000
QUARANTINE_SUFFIX = ".quarantine"
_LOOKAHEAD = 100  # lines after a gap looked at for a seq that belongs in it


@dataclass(frozen=True, slots=True)
class QuarantinedLine:
    """A line moved out of a log: its number in the damaged log (from 1), why, its bytes."""

    line: int
    reason: str
    data: bytes  # exactly as it was, without its newline

    def to_record(self, *, log: str, repaired_at: datetime) -> dict[str, object]:
        """The line's entry in the quarantine file: ``base64`` holds its exact bytes."""
        return {
            "log": log,
            "line": self.line,
            "reason": self.reason,
            "repaired_at": timestamps.to_text(repaired_at),
            "base64": base64.b64encode(self.data).decode("ascii"),
            "text": self.data.decode("utf-8", errors="replace"),
        }


@dataclass(frozen=True, slots=True)
class RepairPlan:
    """What a repair of a log's bytes keeps, moves aside and fills."""

    lines: list[bytes]  # the repaired log's lines, each with its newline
    quarantined: list[QuarantinedLine]
    filled: list[int]  # the seqs given an ``agentstore.lost`` event
    intact: int  # how many first lines stay as they were (seqs 1..intact)

    @property
    def changes_log(self) -> bool:
        """Whether the log is rewritten (else it is healthy as it is)."""
        return bool(self.quarantined or self.filled)


@dataclass(frozen=True, slots=True)
class LogRepair:
    """What a repair of one session's log found, and did (nothing, on a dry run)."""

    path: str
    quarantine: str
    quarantined: list[QuarantinedLine]
    filled: list[int]
    snapshot_removed: bool
    events: int  # the events of the repaired log
    written: bool


@dataclass(frozen=True, slots=True)
class _Kept:
    number: int  # the line's number, from 1
    event: Event
    more: bool


def plan_repair(data: bytes, *, session_id: str, quarantine: str, moment: datetime) -> RepairPlan:
    """Decide how to repair ``data``, the bytes of ``session_id``'s log (pure).

    ``quarantine`` names the quarantine file in the events that stand for lost ones, and
    ``moment`` is the time of the repair.
    """
    raws = data.split(b"\n")
    torn = raws.pop()  # what follows the last newline: nothing in a log that ends well
    readings = [read_line(raw, session_id) for raw in raws]
    kept, quarantined = _sort_lines(raws, readings)
    while kept and kept[-1].more:  # a batch is kept whole or not at all
        line = kept.pop()
        reason = "a batch whose last line never reached the disk"
        quarantined.append(QuarantinedLine(line.number, reason, raws[line.number - 1]))
    if torn:
        reason = "torn last line (an interrupted write)"
        quarantined.append(QuarantinedLine(len(raws) + 1, reason, torn))
    quarantined.sort(key=lambda line: line.line)
    lines, filled = _rebuild(kept, raws, session_id, quarantine if quarantined else None, moment)
    # The lines before the first one moved aside or filled are where and what they were.
    first_change = min([line.line for line in quarantined] + filled + [len(raws) + 1])
    intact = min(first_change - 1, len(kept))
    return RepairPlan(lines, quarantined, filled, intact)


def _sort_lines(
    raws: list[bytes], readings: list[Reading]
) -> tuple[list[_Kept], list[QuarantinedLine]]:
    """Split the lines into those kept and those moved aside, in order."""
    kept: list[_Kept] = []
    quarantined: list[QuarantinedLine] = []
    ids: set[str] = set()
    last = 0
    for index, reading in enumerate(readings):
        event = reading.event
        reason = reading.reason
        if event is not None:
            reason = _misplaced(event, last, ids) or _ahead(event.seq, last, readings, index)
        if reason or event is None:
            quarantined.append(QuarantinedLine(index + 1, reason, raws[index]))
            continue
        kept.append(_Kept(index + 1, event, reading.more))
        ids.add(event.id)
        last = event.seq
    return kept, quarantined


def _misplaced(event: Event, last: int, ids: set[str]) -> str:
    """Why a good event cannot follow seq ``last`` in the repaired log ("" if it can)."""
    seq = event.seq
    if seq <= last:
        return f"duplicate seq: expected {last + 1}, found {seq}"
    if event.id in ids:
        return f"event id {event.id} repeated"
    if seq - last - 1 > MAX_FILLED:
        return f"missing seq: expected {last + 1}, found {seq} (too far ahead to fill)"
    return ""


def _ahead(seq: int, last: int, readings: list[Reading], index: int) -> str:
    """Why line ``index``, whose ``seq`` leaves a gap after ``last``, is out of order ("" if
    it is not): a line soon after holds a seq in the gap, so this seq is the wrong one."""
    if seq == last + 1:
        return ""
    for reading in readings[index + 1 : index + 1 + _LOOKAHEAD]:
        found = reading.event
        if found is not None and last < found.seq < seq:
            return f"seq {seq} out of order: a later line holds seq {found.seq}"
    return ""


def _rebuild(
    kept: list[_Kept], raws: list[bytes], session_id: str, quarantine: str | None, moment: datetime
) -> tuple[list[bytes], list[int]]:
    """The repaired log's lines: the kept ones as they were, lost seqs filled."""
    lines: list[bytes] = []
    filled: list[int] = []
    last = 0
    previous = kept[0].event.timestamp if kept else moment
    for line in kept:
        for seq in range(last + 1, line.event.seq):
            lines.append(encode_event(_lost(session_id, seq, previous, quarantine, moment)))
            filled.append(seq)
        lines.append(raws[line.number - 1] + b"\n")
        last, previous = line.event.seq, line.event.timestamp
    return lines, filled


def _lost(
    session_id: str, seq: int, when: datetime, quarantine: str | None, moment: datetime
) -> Event:
    """The event that stands for the lost one with ``seq``; it says where damaged lines went."""
    payload = {
        "reason": "a repair found no readable line of the log holding this event",
        "repaired_at": timestamps.to_text(moment),
    }
    if quarantine is not None:
        payload["quarantine"] = quarantine
    return stored_event(
        new_event_id(), session_id, seq, LOST_EVENT_TYPE, payload, when, EMPTY_METADATA
    )


# On disk


@translating((OSError,), lambda backend: backend.root)
def repair_log(backend: JsonlBackend, session_id: str, *, dry_run: bool = False) -> LogRepair:
    """Repair the log of ``session_id`` (see the module); on a dry run, only say what.

    Raises:
        SessionNotFoundError: no such session.
        StorageError: a file could not be read or written; the log is the old one or the
            repaired one, whole.
    """
    log = backend.log_of(session_id)
    files: Files = backend._files
    quarantine = log.path + QUARANTINE_SUFFIX
    snapshot = os.path.join(backend.root, "snapshots", session_id + ".json")
    moment = timestamps.now()
    with log.held() as fd:
        data = files.read_at(fd, 0, files.size(fd))
        relative = os.path.relpath(quarantine, backend.root)
        plan = plan_repair(data, session_id=session_id, quarantine=relative, moment=moment)
        stale = _stale_snapshot(files, snapshot, plan.intact)
        written = not dry_run and (plan.changes_log or stale)
        if written:
            if plan.quarantined:
                _quarantine(files, quarantine, plan.quarantined, os.path.basename(log.path), moment)
            if stale:
                files.remove(snapshot)
                files.sync_dir(os.path.dirname(snapshot))
            if plan.changes_log:
                files.write_file(log.path, b"".join(plan.lines))
    if written and plan.changes_log:
        # Programs reading the seed's format take the event count from the record.
        record = backend.get_session(session_id)
        files.write_file(
            os.path.join(backend.root, "sessions", session_id + ".json"), encode_session(record)
        )
    return LogRepair(
        log.path, quarantine, plan.quarantined, plan.filled, stale, len(plan.lines), written
    )


def _stale_snapshot(files: Files, path: str, intact: int) -> bool:
    """Whether the snapshot at ``path`` is unreadable or covers a seq past the intact lines."""
    data = files.read_file(path)
    if data is None:
        return False
    try:
        snapshot, _ = decode_snapshot(data)
    except ValueError:
        return True
    return snapshot.version > intact


def _quarantine(
    files: Files, path: str, lines: list[QuarantinedLine], log: str, moment: datetime
) -> None:
    """Append ``lines`` to the quarantine file, durably (creating it if missing)."""
    entries = b"".join(
        orjson.dumps(line.to_record(log=log, repaired_at=moment), option=orjson.OPT_APPEND_NEWLINE)
        for line in lines
    )
    fd = files.open_log(path)
    try:
        size = files.size(fd)
        if size and files.read_at(fd, size - 1, 1) != b"\n":
            entries = b"\n" + entries  # an entry left torn by a crash stays whole, apart
        files.append(fd, entries)
        files.sync(fd)
    finally:
        files.close(fd)
