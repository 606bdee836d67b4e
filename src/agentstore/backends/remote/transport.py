"""How a remote store's calls travel: checked settings, requests, and broken connections.

The calls of :mod:`agentstore.backends.remote.calls` go through ``httpcore2``, the
connection pool under ``httpx2``, sent as they are: ``httpx2``'s request and response
models cost about as much CPU as the server's whole handling of an append, and a call
needs none of what they add (redirects, cookies, auth flows, URL merging). Watches,
which read Server-Sent Events, keep an ``httpx2`` client (:mod:`.feeds`).
"""

from __future__ import annotations

import functools
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpcore2
import httpx2

from agentstore.backends.remote import calls, wire
from agentstore.errors import (
    AccessDeniedError,
    AgentStoreError,
    InvalidArgumentError,
    StorageError,
    StoreNotFoundError,
)
from agentstore.events import Event

__all__ = [
    "BROKEN",
    "CONNECTIONS",
    "TOKEN_VARIABLE",
    "UNLIMITED",
    "Endpoint",
    "Lines",
    "headers_of",
    "not_a_store",
    "pause_after",
]

#: The environment variable a token is taken from when none is given.
TOKEN_VARIABLE = "AGENTSTORE_TOKEN"  # noqa: S105 - a variable's name, not a secret
#: The limits of the client of watches: each holds a connection open, however many.
UNLIMITED = httpx2.Limits(max_connections=None, max_keepalive_connections=0)
#: The most connections a store's calls keep, all kept alive: one per thread or task
#: calling at once, reused by the next call.
CONNECTIONS = 64
#: The errors of a connection that failed or broke: the call may be sent again.
BROKEN = (httpcore2.NetworkError, httpcore2.TimeoutException, httpcore2.RemoteProtocolError)
_NOT_SENT = (httpcore2.ConnectError, httpcore2.ConnectTimeout, httpcore2.PoolTimeout)
_JSON = (b"Content-Type", b"application/json")


@functools.cache
def _verified() -> ssl.SSLContext:
    """The TLS settings of every client: made once, since loading the CA list is slow."""
    return httpx2.create_ssl_context()


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A server's address, token and timeout, checked: what each request carries."""

    url: str  # http://host:port, for messages
    scheme: bytes
    host: bytes
    port: int | None
    headers: list[tuple[bytes, bytes]]
    extensions: dict[str, Any]  # httpcore2's per-request settings: the timeouts
    watches: dict[str, Any]  # the arguments of the httpx2 client of watches

    @classmethod
    def of(cls, url: str, token: str | None, timeout: float) -> Endpoint:
        """The endpoint of the server at ``url``.

        Raises:
            InvalidArgumentError: a bad URL, token or timeout.
        """
        parts = httpx2.URL(url)
        if parts.scheme not in ("http", "https") or not parts.host:
            raise InvalidArgumentError(
                f"a store's server is http://host:port or https://..., not {url!r}"
            )
        if parts.query or parts.fragment or parts.path not in ("", "/"):
            raise InvalidArgumentError(
                f"give the server's address alone (http://host:port), not {url!r}"
            )
        if token is None:
            token = os.environ.get(TOKEN_VARIABLE) or None
        if token is not None and (not isinstance(token, str) or not token.strip()):
            raise InvalidArgumentError("token must be a non-empty str, or None")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            raise InvalidArgumentError(
                f"timeout must be a positive number of seconds, not {timeout!r}"
            )
        base = str(parts.copy_with(path="/")).rstrip("/")
        authorization = {"Authorization": f"Bearer {token.strip()}"} if token else {}
        named = {**authorization, "User-Agent": "agentstore"}
        host = b"[%b]" % parts.raw_host if b":" in parts.raw_host else parts.raw_host
        if parts.port is not None:
            host += b":%d" % parts.port
        connect = min(timeout, 10.0)
        return cls(
            url=base,
            scheme=parts.raw_scheme,
            host=parts.raw_host,
            port=parts.port,
            headers=[(b"Host", host), *((k.encode(), v.encode()) for k, v in named.items())],
            extensions={
                "timeout": {"connect": connect, "read": timeout, "write": timeout, "pool": timeout}
            },
            watches={
                "base_url": base,
                "headers": named,
                "timeout": httpx2.Timeout(timeout, connect=connect),
                "verify": _verified(),
            },
        )

    def pool_settings(self) -> dict[str, Any]:
        """The arguments of the connection pool of calls (sync or async)."""
        return {
            "ssl_context": _verified(),
            "max_connections": CONNECTIONS,
            "max_keepalive_connections": CONNECTIONS,
        }

    def request(self, call: calls.Call[Any]) -> dict[str, Any]:
        """The arguments of the pool's ``request`` that send ``call``."""
        target = call.path
        if call.params:
            target += "?" + urlencode(call.params, doseq=True)
        url = httpcore2.URL(scheme=self.scheme, host=self.host, port=self.port, target=target)
        headers = self.headers if call.body is None else [*self.headers, _JSON]
        return {
            "method": call.method,
            "url": url,
            "headers": headers,
            "content": call.body,
            "extensions": self.extensions,
        }


class Lines:
    """The events of a body of JSON lines, decoded as its chunks arrive: the client decodes
    what came while the server reads and sends the rest (it sends a read a page at a time).
    """

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._rest = b""

    def feed(self, chunk: bytes) -> None:
        """Decode the lines ``chunk`` completes; keep the rest for the next."""
        data = self._rest + chunk
        cut = data.rfind(b"\n") + 1
        self._rest = data[cut:]
        if cut:
            self.events += wire.decode_lines(data[:cut])

    def end(self) -> list[Event]:
        """Every event of the body, once it has all arrived."""
        if self._rest:
            self.events += wire.decode_lines(self._rest)
            self._rest = b""
        return self.events


def headers_of(response: httpcore2.Response) -> Mapping[str, str]:
    """A response's headers, by lower-case name."""
    return {
        name.decode("latin-1").lower(): value.decode("latin-1") for name, value in response.headers
    }


def pause_after(url: str, call: calls.Call[Any], attempt: int, error: Exception) -> float:
    """Seconds to wait before sending ``call`` again after ``error`` (one of
    :data:`BROKEN`); raises if it may not be.

    Raises:
        StorageError: the call may not be sent again (it may have arrived and is no
            read, update or append), or it was sent as many times as it may be.
    """
    # A connection that could not be made, or waited for, carried nothing to the server.
    sent = not isinstance(error, _NOT_SENT)
    if not call.again(attempt, sent=sent):
        timed_out = isinstance(error, httpcore2.TimeoutException)
        raise calls.broken(url, error, sent=sent, timed_out=timed_out) from error
    return calls.pause(attempt)


def not_a_store(url: str, error: AgentStoreError) -> AgentStoreError:
    """What opening reports when the health call failed with ``error``."""
    if isinstance(error, AccessDeniedError | StorageError):
        return error
    return StoreNotFoundError(url, f"no agentstore server answers there ({error})")
