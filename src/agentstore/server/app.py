"""The ASGI application of a store's server: :func:`create_app`.

``agentstore serve`` runs it with uvicorn; any ASGI server can run it too::

    from agentstore.server import create_app

    app = create_app("./agent-data", token="...")  # uvicorn module:app

The store is opened when the application starts (on the server's event loop, in each
worker process) and closed when it stops.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import orjson

from agentstore.errors import missing_extra

try:
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware
    from starlette.middleware.cors import CORSMiddleware
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route
except ModuleNotFoundError as missing:
    raise missing_extra(missing, "server", "agentstore.server") from None

import agentstore
from agentstore.aio.opening import open as open_async
from agentstore.aio.store import AsyncStore
from agentstore.backends.remote import wire
from agentstore.errors import AgentStoreError, InvalidArgumentError
from agentstore.server import pages, routes
from agentstore.server.appends import Appends, failure
from agentstore.server.openapi import document
from agentstore.server.security import LOOPBACK_HOSTS, Guard

__all__ = ["DEFAULT_MAX_REQUEST_BYTES", "create_app"]

#: The largest request body a server accepts unless told otherwise: a batch of several
#: events at the library's largest payload (1 MiB).
DEFAULT_MAX_REQUEST_BYTES = 8 * 1024 * 1024


def create_app(
    store: str | os.PathLike[str] | AsyncStore = "./agent-data",
    *,
    token: str | None = None,
    read_token: str | None = None,
    allowed_hosts: Iterable[str] | None = LOOPBACK_HOSTS,
    cors_origins: Iterable[str] = (),
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    read_only: bool = False,
    **store_options: Any,
) -> Starlette:
    """The ASGI application that serves ``store`` over HTTP: the ``/v1`` API, and the web
    timeline at ``/`` (:mod:`agentstore.server.pages`).

    Args:
        store: a target (as :func:`agentstore.open` takes it), opened when the application
            starts and closed when it stops; or an open :class:`~agentstore.aio.AsyncStore`
            (of the loop the server runs on), which stays open.
        token: the bearer token every request must carry (None: none is asked, for a
            server only this machine reaches).
        read_token: a bearer token that may only read (for dashboards).
        allowed_hosts: the names the ``Host`` header may give (against DNS rebinding);
            None accepts any, for a server behind a proxy that checks it.
        cors_origins: the web origins whose pages may call the API (none by default).
        max_request_bytes: the largest request body accepted (413 beyond).
        read_only: open the store read-only: every write is refused (403).
        **store_options: the options of :func:`agentstore.aio.open`.

    Raises:
        InvalidArgumentError: a bad argument.
    """
    _check(store, token, read_token, max_request_bytes)
    guard = Middleware(
        Guard,
        token=token,
        read_token=read_token,
        allowed_hosts=None if allowed_hosts is None else tuple(allowed_hosts),
        max_request_bytes=max_request_bytes,
    )
    origins = list(cors_origins)
    # Appends are answered first, after the checks and CORS: see agentstore.server.appends.
    fast = Middleware(Appends)
    extra = [
        Route(wire.API + "/health", _health, methods=["GET"]),
        Route(wire.API + "/openapi.json", _openapi, methods=["GET"]),
    ]
    return Starlette(
        routes=[*routes.ROUTES, *extra, *pages.ROUTES],  # pages: the web timeline
        middleware=[guard, *([_cors(origins)] if origins else []), fast],
        lifespan=_lifespan(store, read_only, store_options),
        exception_handlers={
            AgentStoreError: _failure,
            HTTPException: _http_error,
            Exception: _failure,
        },
    )


def _check(
    store: object, token: str | None, read_token: str | None, max_request_bytes: int
) -> None:
    if type(max_request_bytes) is not int or max_request_bytes < 1:
        raise InvalidArgumentError(
            f"max_request_bytes must be a positive int, not {max_request_bytes!r}"
        )
    for name, value in (("token", token), ("read_token", read_token)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise InvalidArgumentError(f"{name} must be a non-empty str, or None")
    if token is None and read_token is not None:
        raise InvalidArgumentError("a read_token needs a token for writing beside it")
    if not isinstance(store, AsyncStore | str | os.PathLike):
        raise InvalidArgumentError(
            f"store must be a target (a path or URL) or an AsyncStore, not {type(store).__name__}"
        )


def _cors(origins: list[str]) -> Middleware:
    """Let the pages of ``origins`` call the API (their browsers ask first)."""
    return Middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
    )


def _lifespan(
    store: str | os.PathLike[str] | AsyncStore, read_only: bool, options: dict[str, Any]
) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]:
    """The store's life in the application's: opened when it starts, closed when it stops
    (an open store given stays open: it is its owner's)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if isinstance(store, AsyncStore):
            app.state.store = store
            yield
            return
        app.state.store = await open_async(store, read_only=read_only, **options)
        try:
            yield
        finally:
            await app.state.store.aclose()

    return lifespan


def error_response(error: AgentStoreError, status: int | None = None) -> Response:
    """An error as the API answers it: its kind's status and its JSON form."""
    body = orjson.dumps(wire.encode_error(error))
    code = wire.status_of(error) if status is None else status
    return Response(body, code, media_type="application/json")


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if error.status_code == 404:
        message = f"no route {request.url.path!r}: see {wire.API}/openapi.json"
    elif error.status_code == 405:
        message = f"{request.url.path} does not take {request.method}"
    else:
        message = str(error.detail)
    return error_response(InvalidArgumentError(message), error.status_code)


async def _failure(request: Request, error: Exception) -> Response:
    """A store's error, or the server's failure (logged), as the API answers it."""
    status, body = failure(request.method, request.url.path, error)
    return Response(body, status, media_type="application/json")


async def _health(request: Request) -> Response:
    store: AsyncStore = request.app.state.store
    access = request.scope.get("agentstore.access")  # what the request's token may do
    body = {
        "status": "ok",
        "version": agentstore.__version__,
        "read_only": store.read_only,
        "access": access,
    }
    return Response(orjson.dumps(body), media_type="application/json")


async def _openapi(request: Request) -> Response:
    return Response(orjson.dumps(document()), media_type="application/json")
