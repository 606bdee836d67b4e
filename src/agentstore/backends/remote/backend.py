"""The sync backend of a store reached over HTTP: ``agentstore.open("http://host:8750")``.

Each operation is one call of :mod:`agentstore.backends.remote.calls`, sent with a pooled
``httpx2.Client``; the store above it checks, folds and plans as it does for any backend,
and the server's store checks and stamps again, so a remote store gives the answers of a
local one.
"""

from __future__ import annotations

import functools
import itertools
import os
import ssl
import time
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import httpx2

from agentstore.backends import forked
from agentstore.backends.base import Backend, Problem, Subscription
from agentstore.backends.remote import calls
from agentstore.backends.remote.feeds import RemoteSubscription
from agentstore.errors import (
    AccessDeniedError,
    AgentStoreError,
    InvalidArgumentError,
    StorageError,
    StoreNotFoundError,
)
from agentstore.events import Event
from agentstore.sessions import Session, SessionUpdate
from agentstore.state import Snapshot

__all__ = [
    "TOKEN_VARIABLE",
    "UNLIMITED",
    "RemoteBackend",
    "client_settings",
    "pause_after",
    "request_options",
    "not_a_store",
]

_T = TypeVar("_T")
#: The limits of the client of watches: each holds a connection open, however many.
UNLIMITED = httpx2.Limits(max_connections=None, max_keepalive_connections=0)
#: The environment variable a token is taken from when none is given.
TOKEN_VARIABLE = "AGENTSTORE_TOKEN"  # noqa: S105 - a variable's name, not a secret


@functools.cache
def _verified() -> ssl.SSLContext:
    """The TLS settings of every client: made once, since loading the CA list is slow."""
    return httpx2.create_ssl_context()


def client_settings(url: str, token: str | None, timeout: float) -> dict[str, Any]:
    """The arguments of the HTTP client of a store at ``url``.

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
        raise InvalidArgumentError(f"timeout must be a positive number of seconds, not {timeout!r}")
    headers = {"Authorization": f"Bearer {token.strip()}"} if token else {}
    return {
        "base_url": str(parts.copy_with(path="/")).rstrip("/"),
        "headers": {**headers, "User-Agent": "agentstore"},
        "timeout": httpx2.Timeout(timeout, connect=min(timeout, 10.0)),
        "verify": _verified(),
    }


def request_options(call: calls.Call[Any]) -> dict[str, Any]:
    """The options of the client's ``request`` that send ``call``."""
    headers = {"Content-Type": "application/json"} if call.body else None
    return {"params": call.params, "content": call.body, "headers": headers}


def pause_after(
    url: str, call: calls.Call[Any], attempt: int, error: httpx2.TransportError
) -> float:
    """Seconds to wait before sending ``call`` again after ``error``; raises if it may not be.

    Raises:
        StorageError: the call may not be sent again (it may have arrived and is no
            read, update or append), or it was sent as many times as it may be.
    """
    # A connection that could not be made, or waited for, carried nothing to the server.
    sent = not isinstance(error, httpx2.ConnectError | httpx2.ConnectTimeout | httpx2.PoolTimeout)
    if not call.again(attempt, sent=sent):
        timed_out = isinstance(error, httpx2.TimeoutException)
        raise calls.broken(url, error, sent=sent, timed_out=timed_out) from error
    return calls.pause(attempt)


def not_a_store(url: str, error: AgentStoreError) -> AgentStoreError:
    """What opening reports when the health call failed with ``error``."""
    if isinstance(error, AccessDeniedError | StorageError):
        return error
    return StoreNotFoundError(url, f"no agentstore server answers there ({error})")


class RemoteBackend(Backend):
    """A store's server, as a sync backend.

    Args:
        url: the server's address, ``http://host:port`` or ``https://...``.
        token: the bearer token (``AGENTSTORE_TOKEN`` when not given).
        timeout: seconds a call may wait for the server (30).
        read_only: refuse every write, as for any store opened read-only.
    """

    def __init__(
        self, url: str, *, token: str | None = None, timeout: float = 30.0, read_only: bool = False
    ) -> None:
        self.url = url
        self._settings = client_settings(url, token, timeout)
        self._client = httpx2.Client(**self._settings)
        self._watches: httpx2.Client | None = None  # the client of subscriptions, when needed
        try:
            health = self._send(calls.health())
        except AgentStoreError as error:
            self.close()
            raise not_a_store(url, error) from None
        # A server of a read-only store refuses every write: so does the store over it.
        self.read_only = read_only or health["read_only"] is True or health["access"] == "read"
        forked.reopen_after_fork(self)

    def after_fork_in_child(self) -> None:
        """In a forked child: clients of its own (the parent's threads may hold the pool's
        locks, and its connections are the parent's sockets)."""
        forked.set_aside(self._client)
        forked.set_aside(self._watches)
        self._client = httpx2.Client(**self._settings)
        self._watches = None

    def _send(self, call: calls.Call[_T]) -> _T:
        for attempt in itertools.count():
            try:
                response = self._client.request(call.method, call.path, **request_options(call))
            except httpx2.TransportError as error:
                time.sleep(pause_after(self.url, call, attempt, error))
                continue
            return call.answer(response.status_code, response.headers, response.content)
        raise AssertionError("unreachable")

    def create_session(self, session: Session, history: Sequence[Event] = ()) -> Session:
        return self._send(calls.create_session(session, history))

    def get_session(self, session_id: str) -> Session:
        return self._send(calls.get_session(session_id))

    def list_sessions(
        self, *, limit: int, offset: int, labels: Mapping[str, str] | None
    ) -> list[Session]:
        return self._send(calls.list_sessions(limit, offset, labels))

    def update_session(self, session_id: str, update: SessionUpdate) -> Session:
        return self._send(calls.update_session(session_id, update))

    def delete_session(self, session_id: str) -> Session:
        return self._send(calls.delete_session(session_id))

    def append(
        self, session_id: str, events: Sequence[Event], *, expected_seq: int | None
    ) -> list[Event]:
        return self._send(calls.append(session_id, events, expected_seq))

    def import_events(self, session_id: str, events: Sequence[Event]) -> None:
        self._send(calls.import_events(session_id, events))

    def read(self, session_id: str, *, from_seq: int = 1, to_seq: int | None = None) -> list[Event]:
        return self._send(calls.read(session_id, from_seq, to_seq))

    def read_page(
        self,
        session_id: str,
        *,
        from_seq: int,
        to_seq: int | None,
        limit: int,
        cursor: int | None = None,
    ) -> tuple[list[Event], int | None]:
        return self._send(calls.read_page(session_id, from_seq, to_seq, limit, cursor))

    def last_seq(self, session_id: str) -> int:
        return self._send(calls.last_seq(session_id))

    def read_snapshot(self, session_id: str) -> Snapshot | None:
        return self._send(calls.read_snapshot(session_id))

    def write_snapshot(self, snapshot: Snapshot) -> None:
        self._send(calls.write_snapshot(snapshot))

    def subscribe(self, session_id: str | None) -> Subscription:
        if self._watches is None:  # watches hold a connection each, however many
            self._watches = httpx2.Client(**self._settings, limits=UNLIMITED)
        return RemoteSubscription(self._watches, session_id)

    def check(self, session_id: str) -> list[Problem]:
        return self._send(calls.check(session_id))

    def close(self) -> None:
        forked.forget(self)
        self._client.close()
        if self._watches is not None:
            self._watches.close()
