"""Parsing what the command line gives: stores, session ids and prefixes, times, labels."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import click

import agentstore
from agentstore.errors import (
    CorruptLogError,
    InvalidSessionIdError,
    SessionNotFoundError,
    StoreVersionError,
)
from agentstore.store import Store

__all__ = [
    "DEFAULT_STORE",
    "destination",
    "duration",
    "format_option",
    "key_values",
    "label_option",
    "moment",
    "open_store",
    "resolve_session",
    "store_option",
    "type_list",
]

DEFAULT_STORE = "./agent-data"
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_CANDIDATES_SHOWN = 10
_Command = TypeVar("_Command", bound=Callable[..., Any])


def moment(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """An ISO-8601 time (naive times are local) or a time ago: ``90s``, ``10m``, ``2h``, ``1d``."""
    if value is None:
        return None
    text = value.strip()
    relative = _RELATIVE.match(text)
    if relative:
        ago = timedelta(**{_UNITS[relative.group(2)]: float(relative.group(1))})
        return datetime.now(UTC) - ago
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither an ISO-8601 time nor a time ago like 10m"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.astimezone()


def key_values(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str]:
    """Labels given as repeated ``key=value``; a key given twice with two values is an error."""
    labels: dict[str, str] = {}
    for value in values:
        key, equals, text = value.partition("=")
        if not equals or not key:
            raise click.BadParameter(f"{value!r} is not key=value")
        if labels.get(key, text) != text:
            raise click.BadParameter(f"label {key!r} given twice ({labels[key]!r}, {text!r})")
        labels[key] = text
    return labels


def type_list(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    """Event types separated by commas: ``tool_called,tool_result``."""
    if value is None:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise click.BadParameter("give at least one event type")
    return names


def store_option(command: _Command) -> _Command:
    """Let ``--store`` come after the command too (``agentstore replay ID --store x``)."""
    return click.option(
        "--store",
        "command_store",
        metavar="URL|DIR",
        default=None,
        help="The store (overrides the one given before the command).",
    )(command)


def label_option(help: str) -> Callable[[_Command], _Command]:
    """``--label key=value``, repeatable, parsed into a dict."""
    return click.option(
        "--label", "labels", multiple=True, metavar="KEY=VALUE", callback=key_values, help=help
    )


def format_option(*formats: str) -> Callable[[_Command], _Command]:
    """``--format``, one of ``formats``; the first is the default."""
    return click.option(
        "--format", "fmt", type=click.Choice(formats), default=formats[0], show_default=True
    )


def open_store(target: str, *, write: bool = False, create: bool = False) -> Store:
    """Open the store at ``target``: read-only, unless the command writes to it.

    A reading command opens it read-only: nothing is created, migrated or written, and a
    target that holds no store (a typo in a path or a schema, an unrelated file) is an
    error, not an empty list. A writing command (``write``) needs a store there too;
    with ``create`` (a copy's destination), one is made where there is none.
    """
    if create:
        return agentstore.open(target)
    try:
        found = agentstore.open(target, read_only=True)
    except StoreVersionError as error:
        if not write or error.found > error.supported:
            raise
        return agentstore.open(target)  # an older format: opening it to write migrates it
    if not write:
        return found
    found.close()
    return agentstore.open(target)


def destination(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A store to copy into: one that outlives the command (not ``:memory:``)."""
    if value == ":memory:":
        raise click.BadParameter(
            "':memory:' would be discarded when the command ends, with everything copied "
            "into it: give a directory, a SQLite file or a PostgreSQL URL"
        )
    return value


def resolve_session(store: Store, text: str) -> str:
    """Return the id of the one session that is ``text`` or starts with it.

    Raises:
        click.ClickException: no session matches, or several do (they are listed).
    """
    try:
        return store.get_session(text).id
    except (SessionNotFoundError, InvalidSessionIdError):
        pass
    except CorruptLogError:
        return text  # it exists, and its log is damaged: verify and repair say where
    matches = [session.id for session in store.list_sessions(limit=sys.maxsize)]
    matches = sorted(session_id for session_id in matches if session_id.startswith(text))
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise click.ClickException(f"no session {text!r} in this store (agentstore sessions)")
    shown = "\n  ".join(matches[:_CANDIDATES_SHOWN])
    more = len(matches) - _CANDIDATES_SHOWN
    tail = f"\n  ... and {more} more" if more > 0 else ""
    raise click.ClickException(
        f"{text!r} is the start of {len(matches)} session ids; give more of one:\n  {shown}{tail}"
    )


def duration(ctx: click.Context, param: click.Parameter, value: str | None) -> timedelta | None:
    """A length of time: ``90s``, ``90m``, ``12h``, ``30d``, ``2w``."""
    if value is None:
        return None
    length = _RELATIVE.match(value.strip())
    if length is None:
        raise click.BadParameter(f"{value!r} is not a length of time like 30d, 12h or 90m")
    return timedelta(**{_UNITS[length.group(2)]: float(length.group(1))})
