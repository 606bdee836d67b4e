"""``agentstore serve`` and ``agentstore ui``: a store reached over HTTP and its web
timeline (the ``server`` extra)."""

from __future__ import annotations

import importlib
import os
import socket
import threading
import time
import urllib.parse
import urllib.request
import webbrowser
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import click

from agentstore.backends.targets import masked
from agentstore.cli.app import cli
from agentstore.cli.options import store_option
from agentstore.errors import InvalidArgumentError

__all__ = ["serve", "ui"]

_Command = TypeVar("_Command", bound=Callable[..., Any])


def _secret(path: Path | None, variable: str, what: str) -> str | None:
    """A token from its file (its first line) or the environment variable, or None."""
    if path is None:
        return os.environ.get(variable, "").strip() or None
    try:
        token = path.read_text(encoding="utf-8").strip().splitlines()
    except OSError as error:
        raise click.BadParameter(f"cannot read {path}: {error.strerror}", param_hint=what) from None
    if not token or not token[0].strip():
        raise click.BadParameter(f"{path} holds no token", param_hint=what)
    return token[0].strip()


def _serving(command: str) -> ModuleType:
    """The server's module, or a one-line error naming the extra it needs."""
    try:
        return importlib.import_module("agentstore.server.serving")
    except ModuleNotFoundError as missing:
        raise click.ClickException(
            f"{missing}: agentstore {command} needs the server extra: "
            "pip install 'agentstore[server]'"
        ) from None


def _tokens(token_file: Path | None, read_token_file: Path | None) -> tuple[str | None, str | None]:
    """The write token and the read-only token, from their files or the environment."""
    token = _secret(token_file, "AGENTSTORE_TOKEN", "--token-file")
    read_token = _secret(read_token_file, "AGENTSTORE_READ_TOKEN", "--read-token-file")
    if read_token is not None and token is None:
        raise InvalidArgumentError("a read-only token needs a token for writing beside it")
    return token, read_token


def _access_options(command: _Command) -> _Command:
    """``--host``, ``--token-file`` and ``--read-token-file``: who may reach the server."""
    command = click.option(
        "--read-token-file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="A file holding a token that may only read (or set AGENTSTORE_READ_TOKEN), "
        "for dashboards and those who should see the sessions without changing them.",
    )(command)
    command = click.option(
        "--token-file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="A file whose first line is the token that may read and write "
        "(or set AGENTSTORE_TOKEN). Required unless the server listens on loopback only.",
    )(command)
    return click.option(
        "--host", default="127.0.0.1", show_default=True, help="The address to listen on."
    )(command)


@cli.command()
@store_option
@_access_options
@click.option("--port", default=8750, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes (several for a JSONL, SQLite or PostgreSQL store).",
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    metavar="NAME",
    help="A name clients reach the server by (the Host header); repeatable. "
    "Loopback names by default on loopback, any name otherwise.",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    metavar="ORIGIN",
    help="A web origin whose pages may call the API (none by default); repeatable.",
)
@click.option(
    "--max-request-bytes",
    type=click.IntRange(1),
    default=8 * 1024 * 1024,
    show_default=True,
    help="The largest request body accepted.",
)
@click.option("--read-only", is_flag=True, help="Serve the store read-only.")
@click.option(
    "--ssl-certfile", type=click.Path(dir_okay=False), help="Serve HTTPS: the certificate."
)
@click.option("--ssl-keyfile", type=click.Path(dir_okay=False), help="Serve HTTPS: the key.")
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
)
def serve(
    command_store: str | None,
    host: str,
    port: int,
    workers: int,
    token_file: Path | None,
    read_token_file: Path | None,
    allowed_hosts: tuple[str, ...],
    cors_origins: tuple[str, ...],
    max_request_bytes: int,
    read_only: bool,
    ssl_certfile: str | None,
    ssl_keyfile: str | None,
    log_level: str,
) -> None:
    """Serve the store over HTTP, for agents, dashboards and notebooks anywhere.

    Clients open it as any store: agentstore.open("http://HOST:PORT", token=...), or
    agentstore --store http://HOST:PORT ... on the command line. The API is described at
    /v1/openapi.json.

    \b
    Examples:
      agentstore serve --store ./agent-data
      AGENTSTORE_TOKEN=... agentstore serve --host 0.0.0.0 --workers 4 --store sqlite:///a.db
    """
    serving = _serving("serve")
    target = command_store or click.get_current_context().find_root().obj
    token, read_token = _tokens(token_file, read_token_file)
    settings = serving.ServerSettings(
        store=target,
        token=token,
        read_token=read_token,
        allowed_hosts=allowed_hosts or None,
        cors_origins=cors_origins,
        max_request_bytes=max_request_bytes,
        read_only=read_only,
    )
    scheme = "https" if ssl_certfile else "http"
    click.echo(
        f"agentstore: serving {masked(target)} at {scheme}://{host}:{port} "
        f"({'a token is required' if token else 'no token: this machine only'}); "
        "its web timeline at /",
        err=True,
    )
    tls = {"ssl_certfile": ssl_certfile, "ssl_keyfile": ssl_keyfile} if ssl_certfile else {}
    serving.serve(settings, host=host, port=port, workers=workers, log_level=log_level, **tls)


@cli.command()
@store_option
@_access_options
@click.option(
    "--port",
    default=8750,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="The port to listen on (0: any free one).",
)
@click.option("--no-browser", is_flag=True, help="Print the page's address, open no browser.")
def ui(
    command_store: str | None,
    host: str,
    port: int,
    token_file: Path | None,
    read_token_file: Path | None,
    no_browser: bool,
) -> None:
    """Open the store's web timeline in a browser: sessions, events, state, forks, live.

    Serves the store as agentstore serve does, with the page at /, and opens it once the
    server answers. With a token, the address carries it after '#' (never sent to the
    server, and taken out of the address bar by the page). Ctrl-C stops the server.

    \b
    Examples:
      agentstore ui --store ./agent-data
      agentstore ui --store sqlite:///agent.db --port 0 --no-browser
    """
    serving = _serving("ui")
    target = command_store or click.get_current_context().find_root().obj
    token, read_token = _tokens(token_file, read_token_file)
    if port == 0:
        port = _free_port(host)
    address = f"http://{_reachable(host)}:{port}/"
    settings = serving.ServerSettings(store=target, token=token, read_token=read_token)
    opening = "" if no_browser else ", opening it in a browser"
    click.echo(
        f"agentstore: the timeline is at {address} (serving {masked(target)}){opening}; "
        "Ctrl-C stops it",
        err=True,
    )
    if not no_browser:
        fragment = "" if token is None else "#token=" + urllib.parse.quote(token, safe="")
        threading.Thread(target=_open_when_up, args=(address, fragment), daemon=True).start()
    serving.serve(settings, host=host, port=port, log_level="warning")


def _reachable(host: str) -> str:
    """The host a browser on this machine reaches a server listening on ``host`` by."""
    if host in ("0.0.0.0", "", "::"):  # noqa: S104 - every address: this machine's is one
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def _open_when_up(address: str, fragment: str, wait: float = 30.0) -> None:
    """Open the page in a browser once the server answers (after ``wait`` seconds: never)."""
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # this machine
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            with direct.open(address + "v1/health", timeout=1) as answer:
                if answer.status == 200:
                    break
        except OSError:
            time.sleep(0.1)
    else:
        return
    if not webbrowser.open(address + fragment):
        click.echo(f"agentstore: no browser could be opened: open {address}", err=True)
