"""Appends: what an append's body asks, checked once, and the route that answers it first.

An append is most of a busy server's work, and its answer is small: Starlette's request
object, its routing and its exception layers cost about as much CPU as the append.
:class:`Appends` answers ``POST /v1/sessions/{id}/events`` before them, on the ASGI level,
after the server's checks (:class:`~agentstore.server.security.Guard`: host, token, size)
and CORS; the route of :mod:`agentstore.server.routes` stays for what it does not take
(a query, which the route refuses with its usual error).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentstore.aio.store import AsyncStore
from agentstore.backends.remote import wire
from agentstore.core import checks
from agentstore.errors import (
    AgentStoreError,
    InvalidArgumentError,
    InvalidEventError,
    ReadOnlyStoreError,
    StorageError,
)
from agentstore.events import Event
from agentstore.server.requests import fields, parse_body, route_path

__all__ = ["Appends", "append", "failure"]

_log = logging.getLogger("agentstore.server")
_EVENTS = re.compile(re.escape(wire.API) + r"/sessions/([^/]+)/events")
_LINES = wire.JSON_LINES.encode()


async def append(
    store: AsyncStore, session_id: str, body: dict[str, Any], accepted: Sequence[str] = ()
) -> list[Event]:
    """Store the append ``body`` asks for (``events``, ``expected_seq``): its events as
    stored. ``accepted`` names other fields the body may have.

    Raises:
        InvalidEventError, InvalidArgumentError: a malformed body; the store's errors.
    """
    fields(body, ("events", "expected_seq", *accepted), "an append")
    drafts = body.get("events")
    if not isinstance(drafts, list):
        raise InvalidEventError("events must be a JSON array of events")
    events = [wire.decode_draft(draft, index) for index, draft in enumerate(drafts)]
    expected = body.get("expected_seq")
    if expected is not None and type(expected) is not int:
        raise InvalidArgumentError(f"expected_seq must be a whole number, not {expected!r}")
    return await store.append_batch(session_id, events, expected_seq=expected)


def failure(method: str, path: str, error: Exception) -> tuple[int, bytes]:
    """The status and body that answer ``error``; a failure of the server is logged."""
    if not isinstance(error, AgentStoreError):
        _log.error("%s %r failed", method, path, exc_info=error)
        error = StorageError(0, f"the server failed: {type(error).__name__}")
        return 500, orjson.dumps(wire.encode_error(error))
    if isinstance(error, StorageError):
        # Quoted: a path and a message may hold anything a client or stored data put there.
        _log.warning("%s %r: %r", method, path, str(error))
    return wire.status_of(error), orjson.dumps(wire.encode_error(error))


class Appends:
    """The ASGI layer that answers an append itself, and passes every other request on.

    Args:
        app: the application the other requests go to.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["query_string"]:
            await self.app(scope, receive, send)
            return
        matched = _EVENTS.fullmatch(route_path(scope))
        if matched is None:
            await self.app(scope, receive, send)
            return
        raw = await _body(receive)  # the server's checks may refuse it (413): theirs to answer
        if raw is None:  # the client left: no one to answer
            return
        try:
            if scope.get("agentstore.access") == "read":
                raise ReadOnlyStoreError("append")
            body = parse_body(_header(scope, b"content-type"), raw)
            session_id = checks.KnownIds().check(unquote(matched[1]))
            stored = await append(scope["app"].state.store, session_id, body)
        except Exception as error:  # noqa: BLE001 - every error is answered, as the app does
            status, answer = failure("POST", scope["path"], error)
            await _respond(send, status, b"application/json", answer)
            return
        await _respond(send, 200, _LINES, wire.encode_lines(stored))


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return b""


async def _body(receive: Receive) -> bytes | None:
    """The request's body; None if the client left before sending it whole."""
    chunks = []
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(send: Send, status: int, kind: bytes, body: bytes) -> None:
    headers = [(b"content-type", kind), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
