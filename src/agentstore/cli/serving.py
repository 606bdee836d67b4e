"""``agentstore serve``: a store reached over HTTP (the ``server`` extra)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from agentstore.backends.targets import masked
from agentstore.cli.app import cli
from agentstore.cli.options import store_option
from agentstore.errors import InvalidArgumentError

__all__ = ["serve"]


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


@cli.command()
@store_option
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", default=8750, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes (several for a JSONL, SQLite or PostgreSQL store).",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A file whose first line is the token that may read and write "
    "(or set AGENTSTORE_TOKEN). Required unless the server listens on loopback only.",
)
@click.option(
    "--read-token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A file holding a token that may only read, for dashboards "
    "(or set AGENTSTORE_READ_TOKEN).",
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
    try:
        from agentstore.server.serving import ServerSettings
        from agentstore.server.serving import serve as run
    except ModuleNotFoundError as missing:
        raise click.ClickException(
            f"{missing}: agentstore serve needs the server extra: pip install 'agentstore[server]'"
        ) from None
    target = command_store or click.get_current_context().find_root().obj
    token = _secret(token_file, "AGENTSTORE_TOKEN", "--token-file")
    read_token = _secret(read_token_file, "AGENTSTORE_READ_TOKEN", "--read-token-file")
    if read_token is not None and token is None:
        raise InvalidArgumentError("a read-only token needs a token for writing beside it")
    settings = ServerSettings(
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
        f"({'a token is required' if token else 'no token: this machine only'})",
        err=True,
    )
    tls = {"ssl_certfile": ssl_certfile, "ssl_keyfile": ssl_keyfile} if ssl_certfile else {}
    run(settings, host=host, port=port, workers=workers, log_level=log_level, **tls)
