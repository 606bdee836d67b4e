"""``POST /v1/traces``: OpenTelemetry's OTLP over HTTP, so that an agent in any language
records into the store by pointing its span exporter at the server.

The body is an ``ExportTraceServiceRequest``: protobuf (``application/x-protobuf``) or
OTLP's JSON (``application/json``: ids in hex, names in lowerCamelCase), gzip-compressed
or not. Its spans are decoded into :class:`agentstore.otel.record.SpanRecord` and
recorded as :class:`agentstore.otel.RecordingSpanProcessor` records them: GenAI spans
become events of their conversation's session (or their trace's), the others are
ignored. A trace's conversation is remembered across requests, for its spans that do
not name it. Events keep ids made of their spans' ids, so an export sent again stores
nothing twice; a store that fails answers 503, which exporters retry.

The answer is an ``ExportTraceServiceResponse`` in the request's encoding: empty, or
with ``partial_success`` counting the spans that could not be read or recorded (the
server logs why the store refused one). Errors are answered in the API's JSON form. The
route needs the ``otel`` extra on the server; without it, 501 says how to install it.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from agentstore.backends.remote import wire
from agentstore.errors import InvalidArgumentError, missing_extra
from agentstore.server.requests import query, store_of

try:
    from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Status

    from agentstore.otel.processor import write_async
    from agentstore.otel.record import SpanEventRecord, SpanRecord, TraceSessions
except ModuleNotFoundError as missing:
    _MISSING: ModuleNotFoundError | None = missing_extra(missing, "otel", "POST /v1/traces")
else:
    _MISSING = None

__all__ = ["JSON", "PROTOBUF", "decode_json", "decode_protobuf", "record_traces"]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# The largest body a gzip-compressed request may expand to (a bomb is refused with 413).
_MOST_EXPANDED = 64 * 1024 * 1024
# What a span that cannot be read raises, from a field of the wrong type to nesting
# deeper than the interpreter recurses.
_UNREADABLE = (TypeError, ValueError, KeyError, AttributeError, RecursionError)


async def record_traces(request: Request) -> Response:
    """Record the GenAI spans of an OTLP export request; answer what OTLP expects."""
    query(request)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in (PROTOBUF, JSON):
        message = f"OTLP is sent as {PROTOBUF} or {JSON}, not {kind or 'no content type'!r}"
        return _refusal(415, message)
    if _MISSING is not None:
        return _refusal(501, str(_MISSING))
    raw = _expanded(await request.body(), request.headers.get("content-encoding", ""))
    if isinstance(raw, Response):
        return raw
    spans, rejected = decode_protobuf(raw) if kind == PROTOBUF else decode_json(raw)
    batches, refused = _sessions(request).plan(spans)
    rejected += refused
    store = store_of(request)
    for batch in batches:
        rejected += await write_async(store, batch)
    return _answer(kind, rejected)


def _refusal(status: int, message: str) -> Response:
    body = orjson.dumps(wire.encode_error(InvalidArgumentError(message)))
    return Response(body, status, media_type="application/json")


def _expanded(raw: bytes, encoding: str) -> bytes | Response:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding != "gzip":
        return _refusal(
            415, f"OTLP bodies are sent as they are or gzip-compressed, not {encoding!r}"
        )
    expander = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        body = expander.decompress(raw, _MOST_EXPANDED)
    except zlib.error as error:
        raise InvalidArgumentError(f"the request body is not gzip: {error}") from None
    if expander.unconsumed_tail:
        return _refusal(413, f"the request body expands beyond {_MOST_EXPANDED} bytes")
    return body


def _sessions(request: Request) -> TraceSessions:
    """The server's memory of which session each trace goes to (made at its first export)."""
    state = request.app.state
    sessions: TraceSessions | None = getattr(state, "otlp_sessions", None)
    if sessions is None:
        sessions = state.otlp_sessions = TraceSessions()
    return sessions


def _answer(kind: str, rejected: int) -> Response:
    message = f"{rejected} spans could not be read or recorded"
    if kind == PROTOBUF:
        answer = ExportTraceServiceResponse()
        if rejected:
            answer.partial_success.rejected_spans = rejected
            answer.partial_success.error_message = message
        return Response(answer.SerializeToString(), media_type=PROTOBUF)
    body = {"partialSuccess": {"rejectedSpans": str(rejected), "errorMessage": message}}
    return Response(orjson.dumps(body if rejected else {}), media_type=JSON)


# Protobuf


def decode_protobuf(raw: bytes) -> tuple[list[SpanRecord], int]:
    """The spans of an ``ExportTraceServiceRequest`` in protobuf, and how many of them were
    rejected (ids of the wrong length).

    Raises:
        InvalidArgumentError: the body is not such a request.
    """
    try:
        request = ExportTraceServiceRequest.FromString(raw)
    except DecodeError as error:
        raise InvalidArgumentError(
            f"the request body is not an ExportTraceServiceRequest in protobuf: {error}"
        ) from None
    spans, rejected = [], 0
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                if len(span.trace_id) != 16 or len(span.span_id) != 8:
                    rejected += 1
                    continue
                spans.append(
                    SpanRecord(
                        trace_id=int.from_bytes(span.trace_id, "big"),
                        span_id=int.from_bytes(span.span_id, "big"),
                        name=span.name,
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        attributes=_proto_attributes(span.attributes),
                        events=[
                            SpanEventRecord(
                                event.name,
                                event.time_unix_nano,
                                _proto_attributes(event.attributes),
                            )
                            for event in span.events
                        ],
                        error=span.status.code == Status.STATUS_CODE_ERROR,
                        status_message=span.status.message,
                    )
                )
    return spans, rejected


def _proto_attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {pair.key: _proto_value(pair.value) for pair in pairs}


def _proto_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_proto_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return _proto_attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, kind) if kind in _SCALARS else None


_SCALARS = frozenset({"string_value", "bool_value", "int_value", "double_value"})


# JSON


def decode_json(raw: bytes) -> tuple[list[SpanRecord], int]:
    """The spans of an ``ExportTraceServiceRequest`` in OTLP's JSON, and how many of them
    were rejected (a field of the wrong type, an id that is not hex of its length).

    Raises:
        InvalidArgumentError: the body is not JSON, or not such a request.
    """
    try:
        request = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise InvalidArgumentError(f"the request body is not JSON: {error}") from None
    if not isinstance(request, dict):
        raise InvalidArgumentError("the request body must be a JSON object")
    spans, rejected = [], 0
    for resource_spans in _array(request, "resourceSpans"):
        for scope_spans in _array(resource_spans, "scopeSpans"):
            for span in _array(scope_spans, "spans"):
                try:
                    spans.append(_json_span(span))
                except _UNREADABLE:
                    rejected += 1
    return spans, rejected


def _array(parent: object, name: str) -> list[Any]:
    if not isinstance(parent, dict):
        raise InvalidArgumentError(f"the objects holding {name} must be JSON objects")
    found = parent.get(name)
    if found is None:
        return []
    if not isinstance(found, list):
        raise InvalidArgumentError(f"{name} must be a JSON array")
    return found


def _json_span(span: Mapping[str, Any]) -> SpanRecord:
    status = span.get("status") or {}
    return SpanRecord(
        trace_id=_hex_id(span["traceId"], 16),
        span_id=_hex_id(span["spanId"], 8),
        name=_string(span.get("name", "")),
        start_ns=int(span.get("startTimeUnixNano", 0)),
        end_ns=int(span.get("endTimeUnixNano", 0)),
        attributes=_json_attributes(span.get("attributes")),
        events=[
            SpanEventRecord(
                _string(event.get("name", "")),
                int(event.get("timeUnixNano", 0)),
                _json_attributes(event.get("attributes")),
            )
            for event in span.get("events") or ()
        ],
        error=status.get("code") in (Status.STATUS_CODE_ERROR, "STATUS_CODE_ERROR"),
        status_message=_string(status.get("message", "")),
    )


def _hex_id(text: object, size: int) -> int:
    found = bytes.fromhex(_string(text))
    if len(found) != size:
        raise ValueError(f"an id of {len(found)} bytes, not {size}")
    return int.from_bytes(found, "big")


def _string(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"a str, not {type(value).__name__}")
    return value


def _json_attributes(pairs: object) -> dict[str, Any]:
    if pairs is None:
        return {}
    if not isinstance(pairs, list):
        raise TypeError("attributes are a JSON array")
    return {_string(pair["key"]): _json_value(pair.get("value") or {}) for pair in pairs}


def _json_value(value: Mapping[str, Any]) -> Any:
    """An ``AnyValue`` in OTLP's JSON (64-bit ints may come as strings)."""
    if "stringValue" in value:
        return _string(value["stringValue"])
    if "boolValue" in value:
        if not isinstance(value["boolValue"], bool):
            raise TypeError("a boolValue is true or false")
        return value["boolValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "arrayValue" in value:
        return [_json_value(item) for item in value["arrayValue"].get("values") or ()]
    if "kvlistValue" in value:
        return _json_attributes(value["kvlistValue"].get("values"))
    if "bytesValue" in value:
        return _string(value["bytesValue"])  # base64 already
    return None
