"""The commands that change or remove what is stored: ``rm``, ``label``, ``prune``, ``repair``.

They open the store to write (a reading command never does) and, where they delete, ask
first on a terminal. They join the ``agentstore`` group when :mod:`agentstore.cli` is
imported.
"""

from __future__ import annotations

import base64
import sys
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from agentstore.cli.app import cli, opened, progress
from agentstore.cli.options import (
    duration,
    format_option,
    key_values,
    label_option,
    resolve_session,
    store_option,
)
from agentstore.cli.render import Output
from agentstore.errors import SessionNotFoundError
from agentstore.repairing import LOST_EVENT_TYPE, RepairReport, repair
from agentstore.reports.text import plural, printable
from agentstore.sessions import Session

__all__ = ["label", "prune", "repair_command", "rm"]


@cli.command(name="rm", short_help="Delete sessions, each whole: record, events, snapshot.")
@click.argument("session_ids", metavar="ID...", nargs=-1, required=True)
@click.option("-y", "--yes", is_flag=True, help="Do not ask first (on a terminal).")
@format_option("text", "json")
@store_option
def rm(session_ids: tuple[str, ...], yes: bool, fmt: str, command_store: str | None) -> None:
    """Delete sessions, each whole: its record, its events and its snapshot.

    ID may be the start of a session id, if only one session's id starts so. On a
    terminal, the sessions are shown and you are asked first (--yes does not ask); in a
    script or a pipe they are deleted at once. Forks of a deleted session stay.

    \b
    Examples:
      agentstore rm 0b14d4f8
      agentstore rm 0b14d4f8 3c9e1a22 --yes --format json
    """
    with opened(command_store, write=True) as store:
        ids = dict.fromkeys(resolve_session(store, text) for text in session_ids)
        chosen = [store.get_session(session_id) for session_id in ids]
        _confirm(chosen, yes)
        deleted = [store.delete_session(session.id) for session in chosen]
    _deleted(deleted, fmt, dry_run=False)


@cli.command(short_help="Set or remove a session's labels, or rename it.")
@click.argument("session_id", metavar="ID")
@click.argument("pairs", metavar="[KEY=VALUE]...", nargs=-1, callback=key_values)
@click.option("--remove", "removed", multiple=True, metavar="KEY", help="Remove this label.")
@click.option("--name", help="Rename the session.")
@format_option("text", "json")
@store_option
def label(
    session_id: str,
    pairs: dict[str, str],
    removed: tuple[str, ...],
    name: str | None,
    fmt: str,
    command_store: str | None,
) -> None:
    """Set labels on a session (added, or changed), remove some, or rename it.

    Labels not named stay as they are. Prints the session's name and labels as they are
    afterwards. ID may be the start of a session id.

    \b
    Examples:
      agentstore label 0b14d4f8 env=prod reviewed=yes
      agentstore label 0b14d4f8 --remove reviewed
      agentstore label 0b14d4f8 --name "flight search, retried"
    """
    if not pairs and not removed and name is None:
        raise click.UsageError("give KEY=VALUE labels to set, --remove KEY or --name NAME")
    with opened(command_store, write=True) as store:
        session_id = resolve_session(store, session_id)
        session = store.update_session(session_id, name=name, labels=pairs, remove_labels=removed)
    if fmt == "json":
        Output().json(session.to_dict())
    else:
        Output().labels(session)


@cli.command(short_help="Delete the sessions nothing was recorded in for a while.")
@click.option(
    "--older-than",
    "age",
    required=True,
    metavar="AGE",
    callback=duration,
    help="Delete sessions whose last event (or creation) is older: 30d, 12h, 90m.",
)
@label_option("Only sessions with it.")
@click.option("--dry-run", is_flag=True, help="Show what would be deleted; delete nothing.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask first (on a terminal).")
@format_option("text", "json")
@store_option
def prune(
    age: timedelta,
    labels: dict[str, str],
    dry_run: bool,
    yes: bool,
    fmt: str,
    command_store: str | None,
) -> None:
    """Delete the sessions whose last event (or creation, if none) is older than AGE.

    Each session goes whole, as with rm; on a terminal you are asked first (--yes does
    not ask) and a progress bar shows the deletions. Forks of a deleted session stay.

    \b
    Examples:
      agentstore prune --older-than 30d --dry-run
      agentstore prune --older-than 12h --label env=ci --yes
    """
    cutoff = datetime.now(UTC) - age
    with opened(command_store, write=not dry_run) as store:  # a dry run only reads
        found = store.list_sessions(limit=None, labels=labels)
        old = {session.id: session for session in found if session.updated_at < cutoff}
        if dry_run:
            _deleted(list(old.values()), fmt, dry_run=True)
            return
        _confirm(list(old.values()), yes)
        deleted = []
        ids = list(old)
        with progress(ids, "Deleting") if fmt != "json" else nullcontext(ids) as chosen:
            for session_id in chosen:
                try:
                    deleted.append(store.delete_session(session_id))
                except SessionNotFoundError:
                    continue  # deleted by someone else meanwhile
    _deleted(deleted, fmt, dry_run=False)


def _confirm(sessions: list[Session], yes: bool) -> None:
    """Ask before deleting, on a terminal unless ``yes``; a script or a pipe is not asked.

    Raises:
        click.Abort: the answer was no.
    """
    if yes or not sessions or not sys.stdin.isatty():
        return
    Output(sys.stderr).sessions(sessions, updated=True)
    events = sum(session.event_count for session in sessions)
    question = f"Delete {plural(len(sessions), 'session')} ({plural(events, 'event')})?"
    if not click.confirm(question, default=False, err=True):
        raise click.Abort()


def _deleted(sessions: list[Session], fmt: str, *, dry_run: bool) -> None:
    """Say what was deleted (or, with ``dry_run``, what would be)."""
    events = sum(session.event_count for session in sessions)
    if fmt == "json":
        Output().json(
            {
                "dry_run": dry_run,
                "sessions": len(sessions),
                "events": events,
                "deleted": [session.to_dict() for session in sessions],
            }
        )
        return
    counted = f"{plural(len(sessions), 'session')} ({plural(events, 'event')})"
    output = Output()
    if not dry_run:
        output.write([f"Deleted {counted}."])
        return
    if sessions:
        output.sessions(sessions, updated=True)
    output.write([f"Would delete {counted}; nothing was deleted (--dry-run)."])


@cli.command(name="repair", short_help="Move a damaged log's bad lines aside; it reads again.")
@click.argument("session_id", metavar="ID")
@click.option("--dry-run", is_flag=True, help="Only say what would be repaired; change nothing.")
@format_option("text", "json")
@store_option
def repair_command(session_id: str, dry_run: bool, fmt: str, command_store: str | None) -> None:
    """Repair a session whose log is damaged, so that it reads and verifies again.

    Each damaged line (half a line, not JSON, not an event, another session's, a
    repeated seq) is moved, byte for byte, into a quarantine file beside the log
    (events/ID.jsonl.quarantine); good events keep their seqs, and a seq left without a
    good line holds an agentstore.lost event. The old log is replaced only once the new
    one is on disk. Exit status 0 when repaired or when there is nothing to repair.

    \b
    Examples:
      agentstore verify
      agentstore repair 0b14d4f8 --dry-run
      agentstore repair 0b14d4f8
    """
    with opened(command_store, write=not dry_run) as store:  # a dry run only reads
        report = repair(store, resolve_session(store, session_id), dry_run=dry_run)
    if fmt == "json":
        Output().json(_repair_dict(report))
    else:
        Output().write(_repair_lines(report))


def _repair_lines(report: RepairReport) -> list[str]:
    verb = "would move" if report.dry_run else "moved"
    lines = [
        f"line {line.line}: {printable(line.reason)}: {_preview(line.data)} ({verb} aside)"
        for line in report.quarantined
    ]
    filled = ", ".join(map(str, report.filled))
    if filled:
        verb = "would hold" if report.dry_run else "now hold"
        lines.append(f"seqs left without a good line {verb} an {LOST_EVENT_TYPE} event: {filled}")
    if report.snapshot_removed:
        lines.append("the snapshot " + ("would be" if report.dry_run else "was") + " removed")
    session = printable(report.session_id)
    if not report.needed:
        return [f"Nothing to repair in session {session} ({plural(report.events, 'event')})."]
    moved = plural(len(report.quarantined), "line")
    where = f" to {printable(report.quarantine)}" if report.quarantine else ""
    if report.dry_run:
        lines.append(f"Dry run: {moved} would be moved{where}; nothing was changed.")
    else:
        lines.append(
            f"Repaired session {session}: {moved} moved{where}; "
            f"it reads again ({plural(report.events, 'event')})."
        )
    return lines


def _preview(data: bytes, width: int = 60) -> str:
    text = data.decode("utf-8", errors="backslashreplace")
    shown = text if len(text) <= width else text[:width] + "..."
    return printable(shown)


def _repair_dict(report: RepairReport) -> dict[str, Any]:
    return {
        "session_id": report.session_id,
        "dry_run": report.dry_run,
        "needed": report.needed,
        "log": report.log,
        "quarantine": report.quarantine,
        "quarantined": [
            {"line": line.line, "reason": line.reason, "base64": _base64(line.data)}
            for line in report.quarantined
        ],
        "filled": report.filled,
        "snapshot_removed": report.snapshot_removed,
        "events": report.events,
    }


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
