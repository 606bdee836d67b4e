"""Reading a whole session log line by line, for ``verify`` and ``repair`` (pure).

A read stops at the first damaged line; a check goes on, so one report lists every line
to look at. A torn tail (what a crash leaves after the last complete commit) is a warning:
the next write to the session cuts it.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from agentstore.backends.base import Problem
from agentstore.backends.codec import event_from_record
from agentstore.events import Event

__all__ = ["Reading", "check_log", "read_line"]


def check_log(data: bytes, *, path: str, session_id: str) -> list[Problem]:
    """Return the problems in ``data``, the bytes of ``session_id``'s log at ``path``."""
    problems: list[Problem] = []

    def report(number: int, reason: str, severity: str = "error") -> None:
        problems.append(Problem(session_id, f"{path}:{number}", reason, severity))

    lines = data.split(b"\n")
    if lines[-1]:
        report(len(lines), "torn last line (an interrupted write)", "warning")
    expected, ids, more = 1, set[str](), False
    for number, line in enumerate(lines[:-1], start=1):
        found = read_line(line, session_id)
        event, more = found.event, found.more
        if event is None:
            torn = number == len(lines) - 1 and not lines[-1]
            report(number, found.reason, "warning" if torn and b"\x00" in line else "error")
            expected += 1
            continue
        if event.seq != expected:
            problem = "duplicate" if event.seq < expected else "missing"
            report(number, f"{problem} seq: expected {expected}, found {event.seq}")
        elif event.id in ids:
            report(number, f"event id {event.id} repeated")
        ids.add(event.id)
        expected = max(expected, event.seq) + 1  # one bad seq is one problem, not a cascade
    if more:
        report(len(lines) - 1, "a batch whose last line never reached the disk", "warning")
    return problems


@dataclass(frozen=True, slots=True)
class Reading:
    """What one line of a log holds: an event of the session, or the reason it does not."""

    event: Event | None
    reason: str = ""
    more: bool = False  # the line says more of its batch follows


def read_line(line: bytes, session_id: str) -> Reading:
    """Read one line (without its newline) of ``session_id``'s log."""
    if b"\x00" in line:
        return Reading(None, "zero bytes (a write that never reached the disk)")
    try:
        record = orjson.loads(line)
        event = event_from_record(record)
    except orjson.JSONDecodeError:
        return Reading(None, _not_json(line))
    except ValueError as error:
        return Reading(None, str(error))
    if event.session_id != session_id:
        return Reading(None, f"a record of session {event.session_id!r}")
    return Reading(event, more=bool(record.get("more")))


def _not_json(line: bytes) -> str:
    try:
        line.decode()
    except UnicodeDecodeError as error:
        return f"not UTF-8 text (byte {error.start + 1} of the line)"
    return "not valid JSON"
