"""Reading a whole session log for ``verify``: every bad line reported, none repaired (pure).

A read stops at the first damaged line; a check goes on, so one report lists every line
to look at. A torn tail (what a crash leaves after the last complete commit) is a warning:
the next write to the session cuts it.
"""

from __future__ import annotations

import orjson

from agentstore.backends.base import Problem
from agentstore.backends.codec import event_from_record

__all__ = ["check_log"]


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
        reason, event_id, seq, more = _check_line(line, session_id)
        if reason is not None:
            torn = number == len(lines) - 1 and not lines[-1]
            report(number, reason, "warning" if torn and b"\x00" in line else "error")
            expected += 1
            continue
        if seq != expected:
            problem = "duplicate" if seq < expected else "missing"
            report(number, f"{problem} seq: expected {expected}, found {seq}")
        elif event_id in ids:
            report(number, f"event id {event_id} repeated")
        ids.add(event_id)
        expected = max(expected, seq) + 1  # one bad seq is one problem, not a cascade
    if more:
        report(len(lines) - 1, "a batch whose last line never reached the disk", "warning")
    return problems


def _check_line(line: bytes, session_id: str) -> tuple[str | None, str, int, bool]:
    """Return (reason it is bad or None, event id, seq, whether more of its batch follows)."""
    if b"\x00" in line:
        return "zero bytes (a write that never reached the disk)", "", 0, False
    try:
        record = orjson.loads(line)
        event = event_from_record(record)
    except orjson.JSONDecodeError:
        return "not valid JSON", "", 0, False
    except ValueError as error:
        return str(error), "", 0, False
    if event.session_id != session_id:
        return f"a record of session {event.session_id!r}", "", 0, False
    return None, event.id, event.seq, bool(record.get("more"))
