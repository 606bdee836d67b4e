"""Targets: which backend a path or URL names, and opening it (``agentstore.open``'s first step)."""

from __future__ import annotations

import importlib
import os
import re
from types import ModuleType
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

from agentstore.backends.base import Backend
from agentstore.backends.memory import MemoryBackend
from agentstore.errors import InvalidArgumentError

__all__ = [
    "ACCEPTED_TARGETS",
    "is_postgres_url",
    "is_server_url",
    "local_path",
    "masked",
    "open_backend",
    "postgres_backends",
    "postgres_url_options",
    "remote_backends",
]

ACCEPTED_TARGETS = (
    "':memory:' (in this process), a directory path (JSONL files), 'sqlite:///path' or a "
    "path ending in .db, .sqlite or .sqlite3 (SQLite), 'postgresql://...' (PostgreSQL), "
    "'http://host:port' or 'https://...' (a store's server)"
)
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
_SQLITE_OPTIONS = ("synchronous", "busy_timeout", "poll_interval")
_POSTGRES_URL_OPTIONS = ("schema", "partitions")  # agentstore's own, in a URL's query
# A URL's password (up to the netloc's last "@"), and a query's secrets (password=...).
_URL_PASSWORD = re.compile(r"(://[^/?#@\s:]*:)[^/?#\s]*@")
_SECRET_PARAMETER = re.compile(r"(\b\w*(?:password|secret)\w*=)[^&\s'\"]*", re.IGNORECASE)


def open_backend(
    target: str | os.PathLike[str], *, read_only: bool = False, **options: Any
) -> Backend:
    """Return the backend for ``target``.

    With ``read_only``, the backend is opened without creating, migrating or writing
    anything, and only on a store that exists (the in-memory backend, a new store at
    each open, is refused).

    Raises:
        InvalidArgumentError: the target is not one this installation can open, or an
            option is unknown to its backend.
        StoreNotFoundError: (read-only) the target holds no agentstore store.
    """
    text = os.fspath(target) if isinstance(target, os.PathLike) else target
    if not isinstance(text, str):
        raise InvalidArgumentError(
            f"store target must be a str or path, not {type(target).__name__}"
        )
    if type(read_only) is not bool:
        raise InvalidArgumentError(f"read_only must be True or False, not {read_only!r}")
    if text == ":memory:":
        _no_options("memory", options)
        if read_only:
            raise InvalidArgumentError(
                "':memory:' opens a new, empty store each time: there is nothing to read "
                "read-only (a store over a MemoryBackend kept elsewhere may be read-only: "
                "Store(backend, read_only=True))"
            )
        return MemoryBackend()
    options = {**options, "read_only": read_only}
    url = _URL.match(text)
    scheme = url.group(1).lower() if url else None
    if scheme == "sqlite":
        return _sqlite(_sqlite_path(text), options)
    if scheme is None and text.lower().endswith(_SQLITE_SUFFIXES):
        return _sqlite(text, options)
    if is_postgres_url(text):
        return _postgres(text, options)
    if is_server_url(text):
        return _made("remote", remote_backends("backend").RemoteBackend, text, options)
    if scheme is None and text and not text.startswith(":"):
        from agentstore.backends.jsonl.backend import JsonlBackend

        return _made("JSONL", JsonlBackend, text, options)
    raise InvalidArgumentError(
        f"cannot open store {masked(text)!r}: accepted targets are {ACCEPTED_TARGETS}"
    )


def masked(text: str) -> str:
    """``text`` with every password in it shown as ``***``, for messages and output.

    ``postgresql://user:secret@host/db`` becomes ``postgresql://user:***@host/db``, and
    ``?password=secret`` (or any parameter naming a password or secret) ``?password=***``.
    """
    return _SECRET_PARAMETER.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", text))


def local_path(target: str | os.PathLike[str]) -> str | None:
    """The directory or file a target names on this machine (None: memory or a server).

    Raises:
        InvalidArgumentError: the target is not one agentstore opens.
    """
    text = os.fspath(target)
    url = _URL.match(text)
    scheme = url.group(1).lower() if url else None
    if text == ":memory:" or scheme in ("postgresql", "postgres", "http", "https"):
        return None
    if scheme == "sqlite":
        return _sqlite_path(text)
    if scheme is None and text and not text.startswith(":"):
        return text
    raise InvalidArgumentError(
        f"cannot open store {masked(text)!r}: accepted targets are {ACCEPTED_TARGETS}"
    )


def is_postgres_url(target: object) -> bool:
    """Whether ``target`` names a PostgreSQL store (``postgresql://`` or ``postgres://``)."""
    url = _URL.match(target) if isinstance(target, str) else None
    return url is not None and url.group(1).lower() in ("postgresql", "postgres")


def is_server_url(target: object) -> bool:
    """Whether ``target`` names a store's server (``http://`` or ``https://``)."""
    url = _URL.match(target) if isinstance(target, str) else None
    return url is not None and url.group(1).lower() in ("http", "https")


def remote_backends(module: str) -> ModuleType:
    """A module of the remote backends (``backend`` or ``async_backend``), imported only
    for a store's server.

    Raises:
        InvalidArgumentError: httpx, of the ``client`` extra, is not installed.
    """
    try:
        return importlib.import_module(f"agentstore.backends.remote.{module}")
    except ImportError as error:
        raise InvalidArgumentError(
            f"a store's server is reached with the client extra: pip install "
            f"'agentstore[client]' ({error})"
        ) from None


def _sqlite_path(url: str) -> str:
    """The file of ``sqlite:///relative/path`` or ``sqlite:////absolute/path``."""
    parts = _split(url)
    if parts.query:
        names = ", ".join(sorted({name for name, _ in parse_qsl(parts.query, True)}))
        raise InvalidArgumentError(
            f"cannot open store {masked(url)!r}: unknown URL query parameter "
            f"{names or parts.query}; a SQLite URL is sqlite:///path/to/file.db (no host, "
            f"query or fragment): the SQLite backend's options ({', '.join(_SQLITE_OPTIONS)}) "
            "and read_only are arguments of agentstore.open"
        )
    if parts.netloc or not parts.path.startswith("/") or parts.fragment:
        raise InvalidArgumentError(
            f"cannot open store {masked(url)!r}: a SQLite URL is sqlite:///path/to/file.db "
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
        InvalidArgumentError: an option is given both in the URL and as an argument, or
            a query parameter is neither agentstore's nor the driver's.
    """
    names = _POSTGRES_URL_OPTIONS
    parts = _split(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    _check_query(url, [name for name, _ in query if name not in names])
    ours = {name: value for name, value in query if name in names}
    if not ours:
        return url, options
    for name, value in ours.items():
        given = options.setdefault(name, int(value) if value.isdigit() else value)
        if str(given) != value:
            raise InvalidArgumentError(f"{name} is given twice: {value!r} in the URL, {given!r}")
    rest = urlencode([(name, value) for name, value in query if name not in names])
    return urlunsplit(parts._replace(query=rest)), options


def _split(url: str) -> SplitResult:
    try:
        return urlsplit(url)
    except ValueError as error:  # an unclosed [ in the host, a port that is no number
        raise InvalidArgumentError(f"cannot open store {masked(url)!r}: {error}") from None


def _check_query(url: str, names: list[str]) -> None:
    """Refuse a query parameter of a PostgreSQL URL that libpq does not know either."""
    if not names:
        return
    try:
        from psycopg import pq
    except ImportError:
        return  # no driver: opening says which extra to install
    known = sorted(option.keyword.decode() for option in pq.Conninfo.get_defaults())
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise InvalidArgumentError(
            f"cannot open store {masked(url)!r}: unknown URL query parameter "
            f"{', '.join(unknown)}; accepted are agentstore's ({', '.join(_POSTGRES_URL_OPTIONS)}) "
            f"and libpq's connection parameters ({', '.join(known)})"
        )


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
