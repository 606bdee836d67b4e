"""Repairs: a damaged log is mended, its damaged lines kept aside, and the session reads again.

:func:`agentstore.repairing.repair` finds nothing to repair in a healthy session, on every
backend, and changes nothing. A backend whose events are lines of a file that can be
damaged (the JSONL directory) gives the scenarios its logs' lines by overriding the
``log_lines`` fixture (:class:`LogLines`): each kind of damage is then made in the middle
of a log, ``verify`` must find it, and after a repair ``verify`` is clean, every good event
is read as it was, with its seq, the seq of a lost one holds an ``agentstore.lost`` event,
appends continue after the last seq, the state is folded again, and the quarantine file
holds each damaged line's bytes exactly.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import orjson
import pytest

from agentstore import (
    CorruptLogError,
    InvalidSessionIdError,
    Session,
    SessionNotFoundError,
    Store,
    new_event,
)
from agentstore.repairing import LOST_EVENT_TYPE, repair
from agentstore.testing.conformance.base import StoreFactory, history, record
from agentstore.verifying import verify


class LogLines(Protocol):
    """Reads, or replaces then reads, the lines of a session's log (without newlines).

    No store of the factory writes to the session meanwhile.
    """

    def __call__(self, session_id: str, lines: list[bytes] | None = None, /) -> list[bytes]: ...


class Damage(NamedTuple):
    """A way to damage a log's lines, and what a repair must do about it."""

    change: Callable[[list[bytes]], None]  # changes the lines of a 6-event log in place
    quarantined: list[int]  # the numbers of the lines moved aside
    filled: list[int]  # the seqs that hold an agentstore.lost event after the repair


def _set(number: int, line: Callable[[bytes], bytes]) -> Callable[[list[bytes]], None]:
    def change(lines: list[bytes]) -> None:
        lines[number - 1] = line(lines[number - 1])

    return change


def _delete(number: int) -> Callable[[list[bytes]], None]:
    def change(lines: list[bytes]) -> None:
        del lines[number - 1]

    return change


DAMAGES = {
    "half a line": Damage(_set(3, lambda line: line[: len(line) // 2]), [3], [3]),
    "garbage": Damage(_set(3, lambda line: b"\x1b[2J not json \x07"), [3], [3]),
    "zero bytes": Damage(_set(3, lambda line: b"\x00" * len(line)), [3], [3]),
    "not UTF-8": Damage(_set(3, lambda line: line.replace(b'"n":2', b'"n":"\xff\xfe"')), [3], [3]),
    "not an event": Damage(_set(3, lambda line: b'{"note": "edited by hand"}'), [3], [3]),
    "a field of the wrong type": Damage(
        _set(3, lambda line: line.replace(b'"sequence_number":3', b'"sequence_number":"3"')),
        [3],
        [3],
    ),
    "another session's line": Damage(
        _set(3, lambda line: orjson.dumps({**orjson.loads(line), "session_id": "someone-else"})),
        [3],
        [3],
    ),
    "a repeated seq": Damage(
        _set(4, lambda line: line.replace(b'"sequence_number":4', b'"sequence_number":3')),
        [4],
        [4],
    ),
    "a seq out of order": Damage(
        _set(3, lambda line: line.replace(b'"sequence_number":3', b'"sequence_number":5')),
        [3],
        [3],
    ),
    "a lost line": Damage(_delete(3), [], [3]),
}


class RepairScenarios:
    @pytest.fixture
    def log_lines(self) -> LogLines | None:
        """Override in a backend whose events are lines of a file (see :class:`LogLines`)."""
        return None

    @pytest.fixture
    def open_sync_store(self, open_store: StoreFactory) -> StoreFactory:
        """Opens a sync store on the data, for tools that take one (``repair``, ``verify``).

        A face that is not a sync store of its own (the async one) overrides it.
        """
        return open_store

    def test_a_healthy_session_has_nothing_to_repair(
        self,
        store: Store,
        session: Session,
        open_sync_store: StoreFactory,
        log_lines: LogLines | None,
    ) -> None:
        record(store, session.id, 5)
        before = history(store, session.id)
        lines = log_lines(session.id) if log_lines is not None else None
        with open_sync_store() as tool:
            for dry_run in (True, False):
                report = repair(tool, session.id, dry_run=dry_run)
                assert not report.needed
                assert (report.quarantined, report.filled, report.events) == ([], [], 5)
        if log_lines is not None:
            assert log_lines(session.id) == lines  # not a byte rewritten
        assert history(store, session.id) == before
        assert store.append(session.id, new_event("after")).seq == 6

    def test_repairing_an_unknown_session_or_a_bad_id_raises(
        self, open_sync_store: StoreFactory
    ) -> None:
        with open_sync_store() as tool:
            with pytest.raises(SessionNotFoundError):
                repair(tool, "no-such-session")
            with pytest.raises(InvalidSessionIdError):
                repair(tool, "../sessions/x")

    @pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
    def test_a_damaged_log_is_repaired_and_reads_again(
        self,
        open_store: StoreFactory,
        open_sync_store: StoreFactory,
        log_lines: LogLines | None,
        damage: Damage,
    ) -> None:
        if log_lines is None:
            pytest.skip("this backend's events cannot be damaged line by line")
        with open_store(snapshot_interval=2) as store:
            session = store.create_session(name="damaged")
            record(store, session.id, 6)
            store.get_state(session.id)  # a snapshot at seq 6, past the damage
            before = history(store, session.id)
        lines = log_lines(session.id)
        damage.change(lines)
        log_lines(session.id, lines)
        with open_sync_store(snapshot_interval=2) as tool:
            found = verify(tool, [session.id]).errors
            assert found
            assert all(problem.session_id == session.id for problem in found)
            with pytest.raises(CorruptLogError):
                tool.get_events(session.id)
            report = repair(tool, session.id)
            assert [line.line for line in report.quarantined] == damage.quarantined
            assert [line.data for line in report.quarantined] == [
                lines[number - 1] for number in damage.quarantined
            ]
            assert report.filled == damage.filled
            if damage.quarantined:
                assert report.quarantine is not None
                assert quarantined_bytes(Path(report.quarantine)) == [
                    lines[number - 1] for number in damage.quarantined
                ]
            assert report.snapshot_removed
            assert report.events == 6
            assert not verify(tool, [session.id]).problems
            assert not repair(tool, session.id).needed  # once is enough
        with open_store(snapshot_interval=2) as store:
            after = history(store, session.id)
            assert [event["sequence_number"] for event in after] == [1, 2, 3, 4, 5, 6]
            kept = [event for event in after if event["sequence_number"] not in damage.filled]
            assert kept == [
                event for event in before if event["sequence_number"] not in damage.filled
            ]
            for seq in damage.filled:
                assert after[seq - 1]["type"] == LOST_EVENT_TYPE
            assert store.append(session.id, new_event("after.repair")).seq == 7
            state = store.get_state(session.id)
            assert (state.version, state.event_count) == (7, 7)
            lost = state.data[LOST_EVENT_TYPE]
            assert ("quarantine" in lost) == bool(damage.quarantined)  # where the lines went

    def test_a_store_open_during_a_repair_follows_the_repaired_log(
        self,
        store: Store,
        session: Session,
        open_sync_store: StoreFactory,
        log_lines: LogLines | None,
    ) -> None:
        if log_lines is None:
            pytest.skip("this backend's events cannot be damaged line by line")
        record(store, session.id, 4)
        lines = log_lines(session.id)
        lines[1] = b"garbage"
        log_lines(session.id, lines)
        with open_sync_store() as tool:
            assert repair(tool, session.id).filled == [2]
        assert [event.seq for event in store.get_events(session.id)] == [1, 2, 3, 4]
        assert store.append(session.id, new_event("after.repair")).seq == 5
        with open_sync_store() as tool:
            assert [event.seq for event in tool.get_events(session.id)] == [1, 2, 3, 4, 5]
            assert not verify(tool, [session.id]).problems


def quarantined_bytes(path: Path) -> list[bytes]:
    """The damaged lines a quarantine file holds, exactly as they were."""
    entries: list[dict[str, Any]] = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    return [base64.b64decode(entry["base64"]) for entry in entries]
