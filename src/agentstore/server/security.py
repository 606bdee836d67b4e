"""What every request passes before a route sees it: its Host, its size and its token.

One ASGI middleware, in this order:

- the ``Host`` header must name the server (a loopback name by default): a page on
  another site that rebinds its DNS name to 127.0.0.1 cannot reach the store;
- a body over ``max_request_bytes`` is refused with 413, as declared or as it arrives;
- a bearer token, when the server has one, is required (401 without it) and compared in
  constant time with both kinds: a write token may do everything, a read-only token
  reads (its writes are refused with 403, as a read-only store refuses them). The web
  page's own files (``/``, ``/sessions/ID``, ``/assets/NAME``) hold nothing stored and
  are read without one: the page asks the API with the user's token.

Refusals are answered in the API's error form (:mod:`agentstore.backends.remote.wire`).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentstore.backends.remote import wire
from agentstore.errors import AccessDeniedError, AgentStoreError, InvalidArgumentError
from agentstore.server.requests import route_path

__all__ = ["LOOPBACK_HOSTS", "PUBLIC_PATHS", "Guard", "host_name", "is_public"]

#: The names a client on this machine reaches a loopback-bound server by.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
#: What anyone may read without a token: nothing stored.
PUBLIC_PATHS = frozenset({wire.API + "/health", wire.API + "/openapi.json"})
# The web page's routes (agentstore.server.pages), exactly: one path segment after the
# prefix, so nothing under /v1 ever matches.
_PAGE_PATH = re.compile(r"/(?:(?:sessions|assets)/[^/]+)?")


class _TooLargeError(Exception):
    pass


class Guard:
    """The ASGI middleware that checks the Host, the size and the token of every request.

    Args:
        app: the application behind it.
        token: the token that may read and write, or None (then no token is asked).
        read_token: a token that may only read, or None.
        allowed_hosts: the host names the ``Host`` header may give, or None for any.
        max_request_bytes: the largest request body accepted.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        read_token: str | None,
        allowed_hosts: Iterable[str] | None,
        max_request_bytes: int,
    ) -> None:
        self.app = app
        self._token = token.encode() if token else None
        self._read_token = read_token.encode() if read_token else None
        self._hosts = None if allowed_hosts is None else {h.lower() for h in allowed_hosts}
        self._most = max_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await _refuse(send, *refusal)
            return
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self._most):
            await _refuse(send, 413, self._too_large())
            return
        if declared is None and b"transfer-encoding" not in headers:
            # No body (HTTP/1.1 sends one only with either header): nothing to count, and a
            # watch's every message goes straight on.
            await self.app(scope, receive, send)
            return
        await self._counted(scope, receive, send)

    def _refusal(
        self, scope: Scope, headers: dict[bytes, bytes]
    ) -> tuple[int, AgentStoreError, dict[str, str]] | None:
        host = host_name(headers.get(b"host", b"").decode("latin-1"))
        if self._hosts is not None and host not in self._hosts:
            error = InvalidArgumentError(
                f"this server does not answer to the host {host[:100]!r} "
                "(its allowed hosts are set with --allowed-host)"
            )
            return 400, error, {}
        access = self._access(headers.get(b"authorization", b""))
        if access is None and not is_public(scope["method"], route_path(scope)):
            denied = AccessDeniedError(
                "this server needs a token: send 'Authorization: Bearer <token>'"
                if not headers.get(b"authorization")
                else "the server does not accept this token"
            )
            return 401, denied, {"WWW-Authenticate": 'Bearer realm="agentstore"'}
        scope["agentstore.access"] = access
        return None

    def _access(self, authorization: bytes) -> str | None:
        """``"write"``, ``"read"`` or None (refused) for the request's Authorization."""
        if self._token is None and self._read_token is None:
            return "write"
        scheme, _, given = authorization.partition(b" ")
        given = given.strip() if scheme.lower() == b"bearer" else b""
        # Both compared, always: the time taken says nothing of which (if either) matched.
        write = hmac.compare_digest(given, self._token or b"\0")
        read = hmac.compare_digest(given, self._read_token or b"\0")
        if given and write:
            return "write"
        if given and read:
            return "read"
        return None

    def _too_large(self) -> InvalidArgumentError:
        return InvalidArgumentError(
            f"the request body is larger than this server accepts ({self._most} bytes)"
        )

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, refusing its body when it grows past the limit."""
        received = 0
        started = False

        async def counting() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self._most:
                    raise _TooLargeError()
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting, sending)
        except _TooLargeError:
            if not started:
                await _refuse(send, 413, self._too_large())


def is_public(method: str, path: str) -> bool:
    """Whether a request may be answered without a token: it reads nothing stored."""
    if path in PUBLIC_PATHS:
        return True
    return method in ("GET", "HEAD") and _PAGE_PATH.fullmatch(path) is not None


def host_name(host: str) -> str:
    """The name of a ``Host`` header, without its port: ``[::1]:8750`` is ``::1``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


async def _refuse(
    send: Send, status: int, error: AgentStoreError, headers: dict[str, str] | None = None
) -> None:
    body = orjson.dumps(wire.encode_error(error))
    raw: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(body)),
    ]
    raw += [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    start: dict[str, Any] = {"type": "http.response.start", "status": status, "headers": raw}
    await send(start)
    await send({"type": "http.response.body", "body": body})
