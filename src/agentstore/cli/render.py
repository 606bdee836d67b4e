"""Turning sessions, events and figures into text: tables, timelines, stats and JSON.

Colours and box drawing only when the output is a terminal and ``NO_COLOR`` is unset;
piped output is plain text or JSON. Lines are built as strings and written in one go: a
10,000-event timeline is one write, not 10,000 calls through a console library.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sys
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import IO, Any, TypeVar

import click
import orjson

from agentstore.events import Event
from agentstore.reports.stats import SessionStats
from agentstore.reports.summaries import format_cost, format_duration, summarize
from agentstore.reports.text import plural, printable
from agentstore.sessions import Session
from agentstore.state import TokenUsage

__all__ = ["Output"]

_TYPE_COLOURS = {
    "user_message": "green",
    "plan_created": "blue",
    "tool_called": "cyan",
    "tool_result": "cyan",
    "llm_request": "magenta",
    "llm_response": "magenta",
    "state_updated": "yellow",
    "error": "red",
}
_PIPED_WIDTH = 160
_SHOWN_LIMIT = 100_000
_JSON = orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
_PAGE = 1000  # events (lines) written at a time by the streamed outputs
_Item = TypeVar("_Item")


class Output:
    """Where a command writes, and how: styled for a terminal, plain for a pipe."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.terminal = self.stream.isatty()
        self.colour = self.terminal and not os.environ.get("NO_COLOR")
        self.width = shutil.get_terminal_size().columns if self.terminal else _PIPED_WIDTH
        # The seqs of the events shown so far, by id, to show what each answers (``↳3``).
        self._shown: dict[str, int] = {}

    def style(self, text: str, **styles: Any) -> str:
        """``text`` with ANSI styles (``fg="red"``, ``bold=True``) when colours are on."""
        return click.style(text, **styles) if self.colour else text

    def write(self, lines: Iterable[str]) -> None:
        """Write lines, each ended by a newline, and flush (``--follow`` shows them now)."""
        text = "\n".join(lines)
        if text:
            self.stream.write(text + "\n")
        self.stream.flush()

    def json(self, value: Any) -> None:
        """Write one JSON document, indented."""
        self.stream.write(orjson.dumps(value, option=_JSON).decode())
        self.stream.flush()

    def json_lines(self, values: Iterable[Any]) -> None:
        """Write one compact JSON document per line, a page of lines at a time."""
        for page in _pages(values):
            self.write(orjson.dumps(value).decode() for value in page)
        self.stream.flush()

    def json_list(self, values: Iterable[Any]) -> None:
        """Write the values as one JSON list, as :meth:`json` would, a page at a time.

        The list is never held whole: a replay of any length is written in bounded memory.
        """
        opening = "[\n  "
        for page in _pages(values):
            parts = []
            for value in page:
                # Newlines in indented JSON are all between tokens (a string's are escaped).
                item = orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
                parts.append(opening + item.replace("\n", "\n  "))
                opening = ",\n  "
            self.stream.write("".join(parts))
        self.stream.write("[]\n" if opening == "[\n  " else "\n]\n")
        self.stream.flush()

    # Tables

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> None:
        """Write aligned columns; ``right`` holds the indexes of right-aligned ones."""
        widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headers)]

        def line(cells: Sequence[str]) -> str:
            padded = (
                cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
                for i, cell in enumerate(cells)
            )
            return "  ".join(padded).rstrip()

        head = [self.style(line(headers), bold=True)]
        if self.terminal:
            head.append(self.style("  ".join("─" * width for width in widths), dim=True))
        self.write([*head, *(line(row) for row in rows)])

    def sessions(self, sessions: Sequence[Session], *, updated: bool = False) -> None:
        """The sessions table: ID, NAME, EVENTS, CREATED (UTC), and FORK OF if one is a fork.

        With ``updated``, the time of the last event (UPDATED) instead of the creation.
        """
        headers = ["ID", "NAME", "EVENTS", "UPDATED (UTC)" if updated else "CREATED (UTC)"]
        rows = [
            [
                s.id,
                printable(s.name),
                f"{s.event_count:,}",
                _clock(s.updated_at if updated else s.created_at),
            ]
            for s in sessions
        ]
        if any(s.parent_id is not None for s in sessions):
            headers.append("FORK OF")
            for row, session in zip(rows, sessions, strict=True):
                row.append(_fork_origin(session))
        self.table(headers, rows, right={2})

    def labels(self, session: Session) -> None:
        """A session's id, name and labels."""
        fields = [
            ("Session", session.id),
            ("Name", printable(session.name) or "-"),
            ("Labels", printable(_labels(session)) or "-"),
        ]
        self.write(self.style(f"{name + ':':<12}", bold=True) + value for name, value in fields)

    # Timelines

    def timeline(self, events: Sequence[Event], start: datetime | None) -> None:
        """One line per event: seq, time since ``start``, type and a summary."""
        self.write(self.timeline_lines(events, start))

    def timeline_pages(self, events: Iterable[Event], start: datetime | None) -> Iterator[Event]:
        """Write the timeline of events as they come, a page at a time; yield each on.

        For a replay of any length in bounded memory (its totals are summed from what is
        yielded). The columns are as wide as the first page needs, wider if a later one
        needs more.
        """
        widths = (0, 0)
        for page in _pages(events):
            start = start or page[0].timestamp
            seq_width, type_width = _widths(page)
            widths = (max(widths[0], seq_width), max(widths[1], type_width))
            self.write(self.timeline_lines(page, start, widths=widths))
            yield from page

    def timeline_lines(
        self, events: Sequence[Event], start: datetime | None, *, widths: tuple[int, int] = (0, 0)
    ) -> list[str]:
        """The lines :meth:`timeline` writes; the columns at least ``widths`` (seq, type) wide."""
        if not events:
            return []
        origin = start or events[0].timestamp
        seq_width, type_width = _widths(events)
        seq_width, type_width = max(seq_width, widths[0]), max(type_width, widths[1])
        room = max(self.width - seq_width - type_width - 17, 20)
        lines = []
        shown = self._shown
        if len(shown) > _SHOWN_LIMIT:  # a long --follow: answers come soon after their calls
            shown.clear()
        for event in events:
            kind = printable(event.type)  # another writer's type may be any text
            colour = _TYPE_COLOURS.get(kind)
            shown[event.id] = event.seq
            cause = shown.get(event.metadata.cause_id) if event.metadata.cause_id else None
            answers = "" if cause is None else self.style(f"↳{cause} ", dim=True)
            lines.append(
                f"{event.seq:>{seq_width}}  "
                + self.style(_elapsed(event.timestamp - origin), dim=True)
                + "  "
                + self.style(kind.ljust(type_width), fg=colour, bold=kind == "error")
                + "  "
                + answers
                + summarize(event, width=room - len(answers))
            )
        return lines

    def totals(self, stats: SessionStats) -> None:
        """The line under a timeline: events, tokens, cost, tool calls, errors, wall time."""
        tokens = stats.tokens
        parts = [
            plural(stats.events, "event"),
            f"{tokens.total:,} tokens ({tokens.input:,} in / {tokens.output:,} out)",
            _cost(tokens),
            plural(stats.tool_calls, "tool call"),
            plural(stats.errors, "error"),
            f"{format_duration(stats.duration_ms)} wall",
        ]
        separator = " · " if self.terminal else ", "
        self.write([self.style(separator.join(parts), bold=True)])

    # Stats

    def stats(self, stats: SessionStats) -> None:
        """The seed's summary of a session, then per type, per model and per tool."""
        session, tokens = stats.session, stats.tokens
        labels = _labels(session)
        fields = [
            ("Session", session.id),
            *([("Fork of", _fork_origin(session))] if session.parent_id is not None else []),
            ("Name", printable(session.name) or "-"),
            ("Created", _clock(session.created_at) + " UTC"),
            ("Duration", format_duration(stats.duration_ms)),
            ("Labels", printable(labels) or "-"),
            ("Events", f"{stats.events:,}"),
            ("Tool calls", f"{stats.tool_calls:,}"),
            ("Errors", f"{stats.errors:,}"),
            ("Tokens", f"{tokens.input:,} in / {tokens.output:,} out / {tokens.total:,} total"),
            ("Cost", _cost(tokens)),
        ]
        if tokens.cache_read or tokens.cache_write:
            cached = f"{tokens.cache_read:,} read / {tokens.cache_write:,} written"
            fields.insert(-1, ("Cached", cached))
        self.write(self.style(f"{name + ':':<12}", bold=True) + value for name, value in fields)
        self._section("Events by type")
        types = [[printable(kind), f"{n:,}"] for kind, n in sorted(stats.types.items())]
        self.table(["TYPE", "COUNT"], types, {1})
        if stats.models:
            self._section("Models")
            self.table(["MODEL", "CALLS", "IN", "OUT", "COST"], _model_rows(stats), {1, 2, 3, 4})
        if stats.tools:
            self._section("Tools")
            self.table(["TOOL", "CALLS", "ERRORS", "MEAN TIME"], _tool_rows(stats), {1, 2, 3})

    def _section(self, title: str) -> None:
        self.write(["", self.style(title, bold=True, underline=self.terminal)])


def _widths(events: Sequence[Event]) -> tuple[int, int]:
    """How wide a timeline's seq and type columns must be for ``events``."""
    return max(len(str(events[-1].seq)), 3), min(max(len(event.type) for event in events), 20)


def _pages(values: Iterable[_Item]) -> Iterator[list[_Item]]:
    """The values, ``_PAGE`` at a time: what one write to the terminal holds."""
    iterator = iter(values)
    while page := list(itertools.islice(iterator, _PAGE)):
        yield page


def _labels(session: Session) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(session.labels.items()))


def _fork_origin(session: Session) -> str:
    """Where a fork comes from: ``<parent id> at seq <n>`` ("" for a session that is none)."""
    if session.parent_id is None:
        return ""
    return f"{printable(session.parent_id)} at seq {session.forked_at_seq}"


def _cost(tokens: TokenUsage) -> str:
    """The cost, and how many calls it leaves out for want of a price or of their usage."""
    cost = format_cost(tokens.cost_usd)
    if tokens.unpriced:
        cost += f" + {plural(tokens.unpriced, 'unpriced call')}"
    if tokens.unknown:
        cost += f" + {plural(tokens.unknown, 'call')} of unknown usage"
    return cost


def _model_rows(stats: SessionStats) -> list[list[str]]:
    return [
        [
            printable(name) or "(no model)",
            f"{max(model.requests, model.responses):,}",
            f"{model.tokens_in:,}",
            f"{model.tokens_out:,}",
            format_cost(model.cost_usd)
            + (" + unpriced" if model.unpriced else "")
            + (" + unknown" if model.unknown else ""),
        ]
        for name, model in sorted(stats.models.items())
    ]


def _tool_rows(stats: SessionStats) -> list[list[str]]:
    rows = []
    for name, tool in sorted(stats.tools.items()):
        mean = tool.mean_duration_ms
        shown = "-" if mean is None else format_duration(mean)
        rows.append([printable(name) or "(no tool)", f"{tool.calls:,}", f"{tool.errors:,}", shown])
    return rows


def _elapsed(delta: Any) -> str:
    milliseconds = max(round(delta.total_seconds() * 1000), 0)
    seconds, milliseconds = divmod(milliseconds, 1000)
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"+{minutes:02d}:{seconds:02d}.{milliseconds:03d}"
    hours, minutes = divmod(minutes, 60)
    return f"+{hours}:{minutes:02d}:{seconds:02d}.{milliseconds:03d}"


def _clock(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
