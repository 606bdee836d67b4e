"""Running a store's server with uvicorn: what ``agentstore serve`` does.

It checks what would make the server unsafe before it starts (a non-loopback address
without a token), then runs :func:`~agentstore.server.create_app` in one process or, with
``workers``, in several: uvicorn starts each and each opens the store itself, so the
store's backend must be one that several processes share (JSONL, SQLite, PostgreSQL).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from agentstore.errors import InvalidArgumentError, missing_extra

try:
    import uvicorn
    from starlette.applications import Starlette
except ModuleNotFoundError as missing:
    raise missing_extra(missing, "server", "agentstore serve") from None

from agentstore.backends.targets import is_server_url, masked
from agentstore.server.app import DEFAULT_MAX_REQUEST_BYTES, create_app
from agentstore.server.security import LOOPBACK_HOSTS

__all__ = ["DEFAULT_PORT", "ServerSettings", "app_from_environment", "is_loopback", "serve"]

DEFAULT_PORT = 8750
# The settings of a server's worker processes, handed over by their parent.
_SETTINGS_VARIABLE = "AGENTSTORE_SERVER_SETTINGS"


@dataclass(frozen=True)
class ServerSettings:
    """What a server serves and how (see :func:`~agentstore.server.create_app`)."""

    store: str
    token: str | None = None
    read_token: str | None = None
    allowed_hosts: Sequence[str] | None = None
    cors_origins: Sequence[str] = field(default_factory=tuple)
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    read_only: bool = False

    def app(self) -> Starlette:
        """The application these settings describe."""
        return create_app(
            self.store,
            token=self.token,
            read_token=self.read_token,
            allowed_hosts=self.allowed_hosts,
            cors_origins=self.cors_origins,
            max_request_bytes=self.max_request_bytes,
            read_only=self.read_only,
        )


def is_loopback(host: str) -> bool:
    """Whether ``host`` is an address only this machine reaches."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(
    settings: ServerSettings,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    workers: int = 1,
    log_level: str = "info",
    **uvicorn_options: Any,
) -> None:
    """Serve the store of ``settings`` at ``host:port`` until interrupted.

    ``uvicorn_options`` are uvicorn's (``ssl_certfile``, ``ssl_keyfile``, ...).

    Raises:
        InvalidArgumentError: the server would be unsafe or cannot serve this store so.
    """
    if not is_loopback(host) and settings.token is None:
        raise InvalidArgumentError(
            f"refusing to serve on {host}, which other machines reach, without a token: "
            "give one with --token-file or AGENTSTORE_TOKEN (or serve on 127.0.0.1)"
        )
    if settings.store == ":memory:" and workers > 1:
        raise InvalidArgumentError(
            "an in-memory store lives in one process: serve it with one worker"
        )
    if is_server_url(settings.store):
        raise InvalidArgumentError(f"{masked(settings.store)} is a server already")
    if settings.allowed_hosts is None and is_loopback(host):
        settings = ServerSettings(**{**asdict(settings), "allowed_hosts": LOOPBACK_HOSTS})
    options = {"host": host, "port": port, "log_level": log_level, **uvicorn_options}
    if workers == 1:
        uvicorn.run(settings.app(), **options)
        return
    os.environ[_SETTINGS_VARIABLE] = orjson.dumps(asdict(settings)).decode()
    uvicorn.run(
        "agentstore.server.serving:app_from_environment", factory=True, workers=workers, **options
    )


def app_from_environment() -> Starlette:
    """The application of a worker process, from the settings its parent handed over."""
    found = orjson.loads(os.environ[_SETTINGS_VARIABLE])
    return ServerSettings(**found).app()
