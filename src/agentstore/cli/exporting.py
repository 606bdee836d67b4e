"""``agentstore export``: sessions sent elsewhere, as OpenTelemetry traces (the ``otel`` extra)."""

from __future__ import annotations

import errno
import os
from typing import Any

import click

from agentstore.backends.targets import masked
from agentstore.cli.app import cli, opened
from agentstore.cli.options import format_option, resolve_session, store_option
from agentstore.cli.render import Output
from agentstore.errors import SessionNotFoundError, StorageError, missing_extra
from agentstore.reports.text import plural
from agentstore.store import Store

__all__ = ["export"]

DEFAULT_ENDPOINT = "http://127.0.0.1:4318/v1/traces"


@cli.group(short_help="Send sessions to another system: OpenTelemetry traces.")
def export() -> None:
    """Send sessions to another system, in its format.

    \b
    Examples:
      agentstore export otel 0b14d4f8
      agentstore export otel 0b14d4f8 3c9e1a22 --endpoint http://collector:4318/v1/traces
    """


def _headers(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    """Headers given as repeated ``name=value``."""
    headers: dict[str, str] = {}
    for value in values:
        name, equals, text = value.partition("=")
        if not equals or not name.strip():
            raise click.BadParameter(f"{value!r} is not name=value")
        headers[name.strip()] = text
    return headers


@export.command(short_help="Send sessions as OpenTelemetry GenAI traces over OTLP/HTTP.")
@click.argument("session_ids", metavar="ID...", nargs=-1, required=True)
@click.option(
    "--endpoint",
    metavar="URL",
    help="Where to send them: an OTLP/HTTP traces URL. Default: "
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces, "
    f"else {DEFAULT_ENDPOINT}.",
)
@click.option(
    "--headers",
    "headers",
    multiple=True,
    metavar="NAME=VALUE",
    callback=_headers,
    help="A header to send (repeatable), beside those of OTEL_EXPORTER_OTLP_HEADERS.",
)
@click.option(
    "--include-content",
    is_flag=True,
    help="Send the messages, tools' arguments and results, and events' payloads too.",
)
@click.option(
    "--service-name", default="agentstore", show_default=True, help="The spans' service.name."
)
@format_option("text", "json")
@store_option
def otel(
    session_ids: tuple[str, ...],
    endpoint: str | None,
    headers: dict[str, str],
    include_content: bool,
    service_name: str,
    fmt: str,
    command_store: str | None,
) -> None:
    """Send sessions as OpenTelemetry traces (GenAI conventions) to an OTLP/HTTP endpoint.

    Each session is one trace with its own times: an invoke_agent span, a chat span per
    LLM call (models, provider, tokens), an execute_tool span per tool call, errors as
    span statuses and exception events, other events as events of the root span.
    Messages and tool arguments and results are sent only with --include-content.
    Sending a session again sends the same trace (its ids come from the session's).
    ID may be the start of a session id.

    \b
    Examples:
      agentstore export otel 0b14d4f8
      agentstore export otel 0b14d4f8 --include-content --format json
      agentstore export otel 0b14d4f8 --endpoint https://otel.example.com/v1/traces \\
        --headers authorization="Bearer $TOKEN"
    """
    exporter_class, export_sessions = _otel()
    target = _endpoint(endpoint)
    exporter = exporter_class(endpoint=target, headers=headers or None)
    try:
        with opened(command_store) as store:
            ids = list(dict.fromkeys(_session_id(store, text) for text in session_ids))
            try:
                spans = export_sessions(
                    store,
                    ids,
                    exporter,
                    include_content=include_content,
                    service_name=service_name,
                )
            except StorageError as error:
                if error.errno != errno.ECOMM:  # the store's, not the exporter's
                    raise
                # The exporter has logged why.
                raise click.ClickException(f"could not send to {masked(target)}: {error}") from None
    finally:
        exporter.shutdown()
    if fmt == "json":
        Output().json({"sessions": len(ids), "spans": spans, "endpoint": masked(target)})
    else:
        sent = f"{plural(spans, 'span')} of {plural(len(ids), 'session')}"
        click.echo(f"Sent {sent} to {masked(target)}.")


def _otel() -> tuple[Any, Any]:
    """The OTLP/HTTP span exporter's class and the export, or an error naming the extra."""
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        from agentstore.otel.export import export_sessions
    except ModuleNotFoundError as missing:
        error = missing_extra(missing, "otel", "agentstore export otel")
        raise click.ClickException(str(error)) from None
    return OTLPSpanExporter, export_sessions


def _endpoint(given: str | None) -> str:
    """The URL to send to: the one given, else the OTLP exporter's variables', else ours.

    The variables are read as the exporter reads them: the traces one is the whole URL,
    the general one a base the traces' path is added to.
    """
    if given:
        return given
    traces = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if traces:
        return traces
    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    return f"{base.removesuffix('/')}/v1/traces" if base else DEFAULT_ENDPOINT


def _session_id(store: Store, text: str) -> str:
    """The session ``text`` is, or the one whose id starts with it.

    Raises:
        SessionNotFoundError: no session's id is or starts with ``text`` (the store's
            own error, as the library raises it).
    """
    try:
        return store.get_session(text).id
    except SessionNotFoundError:
        if not any(session.id.startswith(text) for session in store.list_sessions(limit=None)):
            raise
    return resolve_session(store, text)
