"""Reading a request of the HTTP API: its store, its path's session, its query and body.

Each function checks what it reads and raises the store's typed errors
(:class:`~agentstore.InvalidArgumentError`, ...), which the application answers in the
API's error form: a typo in a parameter or a field is an error, never ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from agentstore.aio.store import AsyncStore
from agentstore.backends.remote import wire
from agentstore.core import checks
from agentstore.errors import InvalidArgumentError, StoreClosedError
from agentstore.events import Event
from agentstore.sessions import check_labels
from agentstore.timestamps import from_text

__all__ = [
    "body_of",
    "check_open",
    "fields",
    "integer",
    "json_response",
    "labels_of",
    "lines_response",
    "moment",
    "parse_body",
    "query",
    "route_path",
    "session_id_of",
    "store_of",
    "timeout_of",
]


def store_of(request: Request) -> AsyncStore:
    store: AsyncStore = request.app.state.store
    return store


def check_open(store: AsyncStore) -> None:
    """Before a call of the store's backend: the store's own calls check this themselves."""
    if store.closed:
        raise StoreClosedError()


def session_id_of(request: Request) -> str:
    """The session id of the path, checked as the store checks ids (none escapes it)."""
    return checks.KnownIds().check(request.path_params["session_id"])


def query(request: Request, *accepted: str) -> Mapping[str, str]:
    """The query's parameters, each given once, all of them among ``accepted``."""
    params = request.query_params
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise InvalidArgumentError(
            f"unknown query parameter {', '.join(unknown)}; "
            f"{request.url.path} takes {', '.join(accepted) or 'none'}"
        )
    repeated = sorted({name for name in params if len(params.getlist(name)) > 1} - {"label"})
    if repeated:
        raise InvalidArgumentError(f"query parameter {repeated[0]} is given more than once")
    return params


def integer(params: Mapping[str, str], name: str, default: int | None = None) -> int | None:
    text = params.get(name)
    if text is None or text == "":
        return default
    if not text.isascii() or not text.isdigit() or len(text) > 40:
        raise InvalidArgumentError(f"{name} must be a whole number of 0 or more, not {text!r}")
    return int(text)


def moment(params: Mapping[str, str], name: str) -> datetime | None:
    text = params.get(name)
    if not text:
        return None
    try:
        return from_text(text)
    except ValueError:
        raise InvalidArgumentError(
            f"{name} must be an RFC 3339 time (2026-01-31T12:00:00Z), not {text!r}"
        ) from None


async def body_of(request: Request) -> dict[str, Any]:
    """The request's JSON object."""
    return parse_body(request.headers.get("content-type", ""), await request.body())


def parse_body(content_type: str | bytes, raw: bytes) -> dict[str, Any]:
    """A request's body, which must be a JSON object sent as such."""
    if isinstance(content_type, bytes):
        content_type = content_type.decode("latin-1")
    kind = content_type.split(";")[0].strip().lower()
    if kind != "application/json":
        raise InvalidArgumentError(
            f"a request body is JSON: send Content-Type: application/json, not {kind!r}"
        )
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise InvalidArgumentError(f"the request body is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise InvalidArgumentError("the request body must be a JSON object")
    return body


def route_path(scope: Scope) -> str:
    """The path the application routes on: without the prefix it is mounted at, if any."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return (path[len(root) :] or "/") if root and path.startswith(root) else path


def fields(body: Mapping[str, Any], accepted: tuple[str, ...], what: str) -> None:
    unknown = sorted(set(body) - set(accepted))
    if unknown:
        raise InvalidArgumentError(
            f"unknown field {', '.join(map(repr, unknown))}: {what} has {', '.join(accepted)}"
        )


def json_response(value: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(value), status, media_type="application/json")


def lines_response(events: list[Event], headers: Mapping[str, str] | None = None) -> Response:
    return Response(wire.encode_lines(events), media_type=wire.JSON_LINES, headers=headers)


def labels_of(request: Request) -> dict[str, str] | None:
    """``?label=key=value`` (repeatable) as labels to match."""
    pairs = request.query_params.getlist("label")
    labels = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals:
            raise InvalidArgumentError(f"label must be key=value, not {pair!r}")
        labels[key] = value
    return dict(check_labels(labels)) or None


def timeout_of(params: Mapping[str, str]) -> float | None:
    text = params.get("timeout")
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise InvalidArgumentError(f"timeout must be a number of seconds, not {text!r}") from None
