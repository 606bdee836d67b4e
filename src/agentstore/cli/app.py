"""The ``agentstore`` commands: each parses, calls the library and hands the result to render."""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager as ContextManager
from contextlib import contextmanager, nullcontext
from datetime import datetime
from typing import Any

import click

from agentstore import __version__
from agentstore.backends.targets import masked
from agentstore.cli.options import (
    DEFAULT_STORE,
    destination,
    format_option,
    label_option,
    moment,
    open_store,
    resolve_session,
    store_option,
    type_list,
)
from agentstore.cli.render import Output
from agentstore.copying import copy_sessions
from agentstore.errors import AgentStoreError
from agentstore.events import Event, EventType, type_name
from agentstore.reports.stats import session_stats
from agentstore.reports.text import plural, printable
from agentstore.store import Store
from agentstore.verifying import Problem, verify

__all__ = ["cli", "main"]

_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class _Group(click.Group):
    """Typed library errors become one line on stderr and exit status 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AgentStoreError as error:  # its message may quote stored data
            raise click.ClickException(printable(str(error), lines=True)) from None


@click.group(cls=_Group, context_settings=_SETTINGS)
@click.option(
    "--store",
    metavar="URL|DIR",
    envvar="AGENTSTORE_URL",
    default=DEFAULT_STORE,
    show_default=True,
    help="The store: a JSONL directory, a SQLite file or URL, a PostgreSQL URL, or a store's "
    "server, http://host:port (or set AGENTSTORE_URL).",
)
@click.version_option(__version__, "--version", prog_name="agentstore")
@click.pass_context
def cli(ctx: click.Context, store: str) -> None:
    """Inspect, replay, follow, fork, copy and verify agent sessions.

    \b
    Examples:
      agentstore sessions --label agent=travel
      agentstore replay 0b14d4f8 --type tool_called,tool_result
      agentstore --store sqlite:///agent.db stats 0b14d4f8
    """
    ctx.obj = store


@contextmanager
def opened(command_store: str | None, *, write: bool = False) -> Iterator[Store]:
    """The store of the command, read-only unless the command ``write``s."""
    target = command_store or click.get_current_context().find_root().obj
    with open_store(target, write=write) as store:
        yield store


@cli.command()
@label_option("Only sessions with it.")
@click.option(
    "--limit",
    default=100,
    show_default=True,
    type=click.IntRange(min=0),
    help="At most this many (0: all).",
)
@click.option("--offset", default=0, type=click.IntRange(min=0), help="Skip this many first.")
@format_option("table", "json", "jsonl")
@store_option
def sessions(
    labels: dict[str, str],
    limit: int,
    offset: int,
    fmt: str,
    command_store: str | None,
) -> None:
    """List sessions, newest first.

    \b
    Examples:
      agentstore sessions
      agentstore sessions --label agent=travel --limit 20 --format json | jq '.[].id'
    """
    with opened(command_store) as store:
        found = store.list_sessions(limit=limit or sys.maxsize, offset=offset, labels=labels)
    output = Output()
    if fmt == "table":
        output.sessions(found)
        if limit and len(found) == limit:
            click.echo(f"(the first {limit}; --limit 0 shows all, --offset skips)", err=True)
    elif fmt == "json":
        output.json([session.to_dict() for session in found])
    else:
        output.json_lines(session.to_dict() for session in found)


@cli.command()
@click.argument("session_id", metavar="ID")
@click.option(
    "--type",
    "types",
    metavar="TYPES",
    callback=type_list,
    help="Only these types, comma-separated.",
)
@click.option(
    "--since",
    metavar="TIME",
    callback=moment,
    help="Only events at or after: ISO-8601 or ago (10m).",
)
@click.option(
    "--until",
    metavar="TIME",
    callback=moment,
    help="Only events at or before: ISO-8601 or ago (10m).",
)
@click.option("--from-seq", type=click.IntRange(min=0), help="Only events from this seq on.")
@click.option("--to-seq", type=click.IntRange(min=0), help="Only events up to this seq.")
@format_option("timeline", "json", "jsonl")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new events until Ctrl-C.")
@store_option
def replay(
    session_id: str,
    types: list[str] | None,
    since: datetime | None,
    until: datetime | None,
    from_seq: int | None,
    to_seq: int | None,
    fmt: str,
    follow: bool,
    command_store: str | None,
) -> None:
    """Replay a session: one line per event, then the totals.

    ID may be the start of a session id, if only one session's id starts so.

    \b
    Examples:
      agentstore replay 0b14d4f8
      agentstore replay 0b14d4f8 --type tool_called,tool_result --since 10m
      agentstore replay 0b14d4f8 --format json | jq '.[] | select(.type == "error")'
      agentstore replay 0b14d4f8 --follow
    """
    if follow and fmt == "json":
        raise click.UsageError("--follow writes one event at a time: use --format jsonl")
    if from_seq is not None and to_seq is not None and from_seq > to_seq:
        raise click.UsageError(
            f"--from-seq {from_seq} is after --to-seq {to_seq}: the range holds no event"
        )
    filters: dict[str, Any] = {
        "types": types,
        "since": since,
        "until": until,
        "from_seq": from_seq,
        "to_seq": to_seq,
    }
    with opened(command_store) as store:
        session_id = resolve_session(store, session_id)
        first = next(store.iter_events(session_id, to_seq=1, page_size=1), None)
        start = first.timestamp if first else None
        if follow:
            _follow(store, Output(), session_id, filters, start, fmt)
            return
        # Streamed a page at a time: a session of any length is replayed in bounded memory.
        shown = _Counted(store.iter_events(session_id, **filters))
        output = Output()
        if fmt == "json":
            output.json_list(event.to_dict() for event in shown)
        elif fmt == "jsonl":
            output.json_lines(event.to_dict() for event in shown)
        else:
            session = store.get_session(session_id)
            output.totals(session_stats(session, output.timeline_pages(shown, start)))
        if types and not shown.count:
            _no_events_of(store, session_id, types)


class _Counted(Iterator[Event]):
    """The events of an iterator, counted as they go by."""

    def __init__(self, events: Iterator[Event]) -> None:
        self._events = events
        self.count = 0

    def __next__(self) -> Event:
        event = next(self._events)
        self.count += 1
        return event


def _no_events_of(store: Store, session_id: str, types: list[str]) -> None:
    """Say which types the session has, when none of the ones asked for is among them.

    A name that is neither a type of the session nor a built-in one is a typo, not an
    empty answer: it exits with status 1 and the nearest names.
    """
    present = sorted({event.type for event in store.iter_events(session_id)})
    known = {*present, *(member.value for member in EventType)}
    unknown = [name for name in types if type_name(name) not in known]
    has = ", ".join(printable(name) for name in present) or "none: it has no events"
    if not unknown:
        asked = ", ".join(printable(name) for name in types)
        click.echo(f"no {asked} events in this session; its types: {has}", err=True)
        return
    near = sorted({n for name in unknown for n in difflib.get_close_matches(name, known, n=2)})
    hint = f" (did you mean {' or '.join(near)}?)" if near else ""
    named = ", ".join(repr(printable(name)) for name in unknown)
    raise click.ClickException(f"no event type {named} in this session{hint}; its types: {has}")


def _follow(
    store: Store,
    output: Output,
    session_id: str,
    filters: dict[str, Any],
    start: datetime | None,
    fmt: str,
) -> None:
    """Print the session's events, stored then new, as they come; until Ctrl-C or ``to_seq``."""
    wanted = {type_name(name) for name in filters["types"] or ()}
    since, until, to_seq = filters["since"], filters["until"], filters["to_seq"]
    try:
        with store.watch(session_id, from_seq=filters["from_seq"] or 1) as watch:
            for event in watch:
                if to_seq is not None and event.seq > to_seq:
                    return
                if (wanted and event.type not in wanted) or (since and event.timestamp < since):
                    continue
                if until and event.timestamp > until:
                    continue
                if fmt == "jsonl":
                    output.json_lines([event.to_dict()])
                else:
                    start = start or event.timestamp
                    output.timeline([event], start)
    except KeyboardInterrupt:
        return


@cli.command(short_help="Show a session's figures: events, tokens, cost, tools.")
@click.argument("session_id", metavar="ID")
@format_option("text", "json")
@store_option
def stats(session_id: str, fmt: str, command_store: str | None) -> None:
    """Show a session's figures: events, tool calls, errors, tokens and cost, per type,
    model and tool.

    \b
    Examples:
      agentstore stats 0b14d4f8
      agentstore stats 0b14d4f8 --format json | jq .tokens
    """
    with opened(command_store) as store:
        session_id = resolve_session(store, session_id)
        figures = session_stats(store.get_session(session_id), store.get_events(session_id))
    if fmt == "json":
        Output().json(figures.to_dict())
    else:
        Output().stats(figures)


@cli.command(short_help="Print a session's state as JSON, now or at a past step.")
@click.argument("session_id", metavar="ID")
@click.option(
    "--at",
    "at_seq",
    type=click.IntRange(min=0),
    help="The state just after this seq (0: before any event).",
)
@store_option
def state(session_id: str, at_seq: int | None, command_store: str | None) -> None:
    """Print a session's materialized state as JSON, now or at a past step.

    \b
    Examples:
      agentstore state 0b14d4f8
      agentstore state 0b14d4f8 --at 3 | jq .data.plan_created
    """
    with opened(command_store) as store:
        session_id = resolve_session(store, session_id)
        Output().json(store.get_state(session_id, at_seq=at_seq).to_dict())


@cli.command()
@click.argument("session_id", metavar="ID")
@click.option(
    "--at",
    "at_seq",
    type=click.IntRange(min=0),
    required=True,
    help="Keep the events up to this seq.",
)
@click.option("--name", default="", help="The fork's name (default: the parent's).")
@label_option("A label to add or change.")
@click.option("--id", "fork_id", help="The fork's id (default: a new UUID).")
@store_option
def fork(
    session_id: str,
    at_seq: int,
    name: str,
    labels: dict[str, str],
    fork_id: str | None,
    command_store: str | None,
) -> None:
    """Fork a session at a seq and print the new session's id.

    \b
    Examples:
      agentstore fork 0b14d4f8 --at 4 --name "retry from the search"
      agentstore replay "$(agentstore fork 0b14d4f8 --at 4)"
    """
    with opened(command_store, write=True) as store:
        session_id = resolve_session(store, session_id)
        forked = store.fork(session_id, at_seq=at_seq, name=name, labels=labels, id=fork_id)
    click.echo(forked.id)


@cli.command(short_help="Copy sessions to another store, of any backend.")
@click.argument("session_ids", metavar="[IDS]...", nargs=-1)
@click.option(
    "--to",
    "target",
    required=True,
    metavar="URL|DIR",
    callback=destination,
    help="The store to copy into (created if missing).",
)
@store_option
def copy(session_ids: tuple[str, ...], target: str, command_store: str | None) -> None:
    """Copy sessions (all, or those named) to another store, of any backend.

    Ids, seqs, times and snapshots are kept. Copying again after an interruption finishes
    the copy; copying once more writes nothing.

    \b
    Examples:
      agentstore copy --to sqlite:///archive.db
      agentstore --store sqlite:///archive.db copy --to postgresql://host/db 0b14d4f8
    """
    with opened(command_store) as source, open_store(target, create=True) as destination:
        ids = [resolve_session(source, text) for text in session_ids] or [
            session.id for session in source.list_sessions(limit=sys.maxsize)
        ]
        created = events = 0
        with progress(ids, "Copying") as sessions_to_copy:
            for session_id in sessions_to_copy:
                report = copy_sessions(source, destination, [session_id])
                created, events = created + report.created, events + report.events
    copied = f"{plural(len(ids), 'session')} ({created:,} new) and {plural(events, 'event')}"
    click.echo(f"Copied {copied} to {masked(target)}.")


@cli.command(name="verify", short_help="Check every log and snapshot; exit 1 on damage.")
@click.argument("session_ids", metavar="[IDS]...", nargs=-1)
@format_option("text", "json")
@store_option
def verify_command(session_ids: tuple[str, ...], fmt: str, command_store: str | None) -> None:
    """Check every log and snapshot (or those of the sessions named); exit 1 on damage.

    Each problem is reported with its file and line (or session and seq); nothing is
    repaired. A torn last line, which a crash leaves and the next write removes, is a
    warning.

    \b
    Examples:
      agentstore verify
      agentstore --store sqlite:///agent.db verify --format json
    """
    with opened(command_store) as store:
        ids = [resolve_session(store, text) for text in session_ids] or None
        report = verify(store, ids)
    if fmt == "json":
        Output().json(
            {
                "sessions": report.sessions,
                "events": report.events,
                "problems": [_problem_dict(problem) for problem in report.problems],
            }
        )
    else:
        _print_problems(report.problems, report.sessions, report.events)
    if report.errors:
        sys.exit(1)


def _print_problems(problems: list[Problem], sessions: int, events: int) -> None:
    output = Output()
    output.write(
        output.style(f"{p.severity}: ", fg="red" if p.severity == "error" else "yellow")
        + printable(str(p))
        for p in problems
    )
    errors = sum(problem.severity == "error" for problem in problems)
    found = "no problems"
    if problems:
        found = f"{plural(errors, 'error')}, {plural(len(problems) - errors, 'warning')}"
    checked = f"{plural(sessions, 'session')} and {plural(events, 'event')}"
    output.write([f"Checked {checked}: {found}."])


def _problem_dict(problem: Problem) -> dict[str, str]:
    return {
        "session_id": problem.session_id,
        "where": problem.where,
        "reason": problem.reason,
        "severity": problem.severity,
    }


def progress(ids: list[str], label: str) -> ContextManager[Iterable[str]]:
    """A progress bar on stderr when it is a terminal; nothing in a pipe or a log."""
    if not sys.stderr.isatty():
        return nullcontext(ids)
    return click.progressbar(
        ids, label=label, file=sys.stderr, show_pos=True, item_show_func=_short
    )


def _short(session_id: str | None) -> str | None:
    return session_id[:8] if session_id else None


def main() -> None:
    """Run the ``agentstore`` command with the process's arguments and exit."""
    cli.main(prog_name="agentstore")
