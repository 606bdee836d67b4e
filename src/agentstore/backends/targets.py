"""Targets: which backend a path or URL names, and opening it (``agentstore.open``'s first step)."""

from __future__ import annotations

import importlib
import os
import re
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from agentstore.backends.base import Backend
from agentstore.backends.memory import MemoryBackend
from agentstore.errors import InvalidArgumentError

__all__ = [
    "ACCEPTED_TARGETS",
    "is_postgres_url",
    "local_path",
    "open_backend",
    "postgres_backends",
    "postgres_url_options",
]

ACCEPTED_TARGETS = (
    "':memory:' (in this process), a directory path (JSONL files), 'sqlite:///path' or a "
    "path ending in .db, .sqlite or .sqlite3 (SQLite), 'postgresql://...' (PostgreSQL)"
)
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def open_backend(target: str | os.PathLike[str], **options: Any) -> Backend:
    """Return the backend for ``target``.

    Raises:
        InvalidArgumentError: the target is not one this installation can open, or an
            option is unknown to its backend.
    """
    text = os.fspath(target) if isinstance(target, os.PathLike) else target
    if not isinstance(text, str):
        raise InvalidArgumentError(
            f"store target must be a str or path, not {type(target).__name__}"
        )
    if text == ":memory:":
        _no_options("memory", options)
        return MemoryBackend()
    url = _URL.match(text)
    scheme = url.group(1).lower() if url else None
    if scheme == "sqlite":
        return _sqlite(_sqlite_path(text), options)
    if scheme is None and text.lower().endswith(_SQLITE_SUFFIXES):
        return _sqlite(text, options)
    if is_postgres_url(text):
        return _postgres(text, options)
    if scheme is None and text and not text.startswith(":"):
        from agentstore.backends.jsonl.backend import JsonlBackend

        return _made("JSONL", JsonlBackend, text, options)
    raise InvalidArgumentError(
        f"cannot open store {text!r}: accepted targets are {ACCEPTED_TARGETS}"
    )


def local_path(target: str | os.PathLike[str]) -> str | None:
    """The directory or file a target names on this machine (None: memory or a server).

    Raises:
        InvalidArgumentError: the target is not one agentstore opens.
    """
    text = os.fspath(target)
    url = _URL.match(text)
    scheme = url.group(1).lower() if url else None
    if text == ":memory:" or scheme in ("postgresql", "postgres"):
        return None
    if scheme == "sqlite":
        return _sqlite_path(text)
    if scheme is None and text and not text.startswith(":"):
        return text
    raise InvalidArgumentError(
        f"cannot open store {text!r}: accepted targets are {ACCEPTED_TARGETS}"
    )


def is_postgres_url(target: object) -> bool:
    """Whether ``target`` names a PostgreSQL store (``postgresql://`` or ``postgres://``)."""
    url = _URL.match(target) if isinstance(target, str) else None
    return url is not None and url.group(1).lower() in ("postgresql", "postgres")


def _sqlite_path(url: str) -> str:
    """The file of ``sqlite:///relative/path`` or ``sqlite:////absolute/path``."""
    parts = urlsplit(url)
    if parts.netloc or not parts.path.startswith("/") or parts.query or parts.fragment:
        raise InvalidArgumentError(
            f"cannot open store {url!r}: a SQLite URL is sqlite:///path/to/file.db "
            "(three slashes, then the path; no host, query or fragment)"
        )
    path = parts.path[1:]
    if path in ("", ":memory:"):
        raise InvalidArgumentError(
            f"cannot open store {url!r}: give a file (':memory:' is the in-memory backend)"
        )
    return path


def _sqlite(path: str, options: dict[str, Any]) -> Backend:
    if not path:
        raise InvalidArgumentError("a SQLite store needs a file: 'sqlite:///path/to/agent.db'")
    from agentstore.backends.sqlite import SqliteBackend

    return _made("SQLite", SqliteBackend, path, options)


def _postgres(url: str, options: dict[str, Any]) -> Backend:
    url, options = postgres_url_options(url, options)
    return _made("PostgreSQL", postgres_backends().PostgresBackend, url, options)


def postgres_backends() -> ModuleType:
    """The PostgreSQL backends' package, imported only for a PostgreSQL store.

    Raises:
        InvalidArgumentError: psycopg, of the ``postgres`` extra, is not installed.
    """
    try:
        return importlib.import_module("agentstore.backends.postgres")
    except ImportError as error:
        raise InvalidArgumentError(
            f"PostgreSQL stores need the postgres extra: pip install 'agentstore[postgres]' "
            f"({error})"
        ) from None


def postgres_url_options(url: str, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Take agentstore's own options out of a PostgreSQL URL's query (``?schema=runs``).

    So a URL alone, as the command line and AGENTSTORE_URL give it, can say everything.
    Returns the URL for the driver and the options with those of the URL added.

    Raises:
        InvalidArgumentError: an option is given both in the URL and as an argument.
    """
    names = ("schema", "partitions")
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = {name: value for name, value in query if name in names}
    if not ours:
        return url, options
    for name, value in ours.items():
        given = options.setdefault(name, int(value) if value.isdigit() else value)
        if str(given) != value:
            raise InvalidArgumentError(f"{name} is given twice: {value!r} in the URL, {given!r}")
    rest = urlencode([(name, value) for name, value in query if name not in names])
    return urlunsplit(parts._replace(query=rest)), options


def _made(name: str, kind: Any, target: str, options: dict[str, Any]) -> Backend:
    try:
        backend: Backend = kind(target, **options)
    except TypeError as error:  # an option the backend does not take
        raise InvalidArgumentError(f"the {name} backend: {error}") from None
    return backend


def _no_options(backend: str, options: dict[str, Any]) -> None:
    if options:
        names = ", ".join(sorted(options))
        raise InvalidArgumentError(f"the {backend} backend takes no option {names}")
