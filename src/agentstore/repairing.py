"""Repairing a session whose log is damaged, so that it reads again; nothing is deleted.

Only a JSONL log can hold damage a read stops at: a line torn or garbled in the middle, a
repeated or missing seq, a line of another session. :func:`repair` moves each damaged
line, verbatim, into a quarantine file beside the log, keeps every good event with its
seq, and puts an ``agentstore.lost`` event where a seq has no good line left, so seqs run
1, 2, 3... again; a snapshot covering the damage is removed. The old log is replaced only
once the new one is durable. A database's rows are never torn: on SQLite, PostgreSQL and
in memory there is nothing to repair (``verify`` still checks them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agentstore.backends.jsonl import JsonlBackend
from agentstore.backends.jsonl.repair import LOST_EVENT_TYPE, QuarantinedLine, repair_log
from agentstore.backends.read_only import ReadOnlyBackend
from agentstore.errors import ReadOnlyStoreError, StoreClosedError
from agentstore.ids import validate_session_id

if TYPE_CHECKING:
    from agentstore.store import Store

__all__ = ["LOST_EVENT_TYPE", "QuarantinedLine", "RepairReport", "repair"]


@dataclass(frozen=True)
class RepairReport:
    """What a repair of one session found and did (on a dry run: would do)."""

    session_id: str
    dry_run: bool = False
    log: str | None = None  # the log file; None for a backend that keeps none
    quarantine: str | None = None  # the quarantine file, when lines are moved there
    quarantined: list[QuarantinedLine] = field(default_factory=list)
    filled: list[int] = field(default_factory=list)  # seqs given an agentstore.lost event
    snapshot_removed: bool = False
    events: int = 0  # the events of the session once repaired

    @property
    def needed(self) -> bool:
        """Whether anything was (or, on a dry run, would be) repaired."""
        return bool(self.quarantined or self.filled or self.snapshot_removed)


def repair(store: Store, session_id: str, *, dry_run: bool = False) -> RepairReport:
    """Repair the stored data of ``session_id`` so that it reads and verifies again.

    Args:
        store: the store holding the session.
        session_id: the session to repair.
        dry_run: only report what a repair would do; nothing is written.

    Raises:
        SessionNotFoundError: no such session.
        InvalidSessionIdError: ``session_id`` is not a session id.
        StoreClosedError: the store is closed.
        ReadOnlyStoreError: the store was opened read-only (a dry run is allowed).
        StorageError: a file could not be read or written; the log is then the old one
            or the repaired one, whole, and a repair may be run again.
    """
    if store.closed:
        raise StoreClosedError()
    validate_session_id(session_id)  # before it names a file
    backend = store.backend
    if isinstance(backend, ReadOnlyBackend):  # a dry run only reads
        if not dry_run:
            raise ReadOnlyStoreError("repair")
        backend = backend.backend
    if not isinstance(backend, JsonlBackend):
        return RepairReport(session_id, dry_run, events=store.get_session(session_id).event_count)
    try:
        done = repair_log(backend, session_id, dry_run=dry_run)
    finally:
        if not dry_run:
            # The store's cached states may hold a fold of events the repair changed
            # (also if it failed after the new log was in place); a repair is rare, so
            # every cached state is dropped rather than one looked for.
            store._states.clear()
    return RepairReport(
        session_id,
        dry_run,
        done.path,
        done.quarantine if done.quarantined else None,
        done.quarantined,
        done.filled,
        done.snapshot_removed,
        done.events,
    )
