"""The OpenAPI 3.1 document of the HTTP API, served at ``/v1/openapi.json``.

Written out here rather than inferred: each route of :data:`agentstore.server.routes.TABLE`
has its entry in :data:`OPERATIONS`, and a test fails when one lacks it.
"""

from __future__ import annotations

import functools
from typing import Any

import agentstore
from agentstore.backends.remote import wire

__all__ = ["OPERATIONS", "document"]

_S = wire.API + "/sessions"
_ONE = _S + "/{session_id}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_LINES = {
    "description": "Events as JSON lines: one event record per line, in seq order.",
    "content": {wire.JSON_LINES: {"schema": _ref("Event")}},
}
_SSE = {
    "description": (
        "Server-Sent Events: first a 'ready' event once the feed is live, then one message per "
        "event (its record as the data), with the seq as the id in a watch of one session."
    ),
    "content": {"text/event-stream": {"schema": {"type": "string"}}},
}


def _query(name: str, kind: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": {"type": kind}, "description": description}


_SEQ_RANGE = [
    _query("from_seq", "integer", "The first seq (1 when not given)."),
    _query("to_seq", "integer", "The last seq (the end of the log when not given)."),
]

#: Each operation's summary, parameters, request body (``body``: JSON; ``bodies``: a schema
#: per media type) and success response.
OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", _S): {
        "summary": "List sessions, newest first",
        "parameters": [
            _query("limit", "integer", "The most sessions returned (100)."),
            _query("offset", "integer", "How many to skip first."),
            _query("label", "string", "key=value: keep sessions with this label; repeatable."),
            _query("q", "string", "Keep sessions whose id or name holds this text."),
            _query("summary", "boolean", "Add each session's tokens, cost, errors and calls."),
        ],
        "responses": {
            "200": _json(
                {
                    "type": "object",
                    "properties": {"sessions": {"type": "array", "items": _ref("Session")}},
                }
            )
        },
    },
    ("POST", _S): {
        "summary": "Create a session",
        "description": (
            "With exist_ok, the session with this id is returned if it exists. A body with "
            "created_at, parent_id or history creates a session made elsewhere (a fork's or "
            "a copy's) as it is, with its first events."
        ),
        "body": _ref("NewSession"),
        "responses": {"201": _json(_ref("Session")), "200": _json(_ref("Session"), "It exists.")},
    },
    ("GET", _ONE): {"summary": "Get a session", "responses": {"200": _json(_ref("Session"))}},
    ("PATCH", _ONE): {
        "summary": "Rename a session or change its labels",
        "body": _ref("SessionUpdate"),
        "responses": {"200": _json(_ref("Session"))},
    },
    ("DELETE", _ONE): {
        "summary": "Delete a session, its events and its snapshot",
        "responses": {"200": _json(_ref("Session"), "The session as it was.")},
    },
    ("POST", _ONE + "/events"): {
        "summary": "Append events, all or none",
        "description": (
            "Events whose id the session holds are returned as stored and not written again, "
            "so an append may be retried. With expected_seq, nothing is written unless it is "
            "the session's last seq (409 otherwise)."
        ),
        "body": _ref("Append"),
        "responses": {"200": _LINES},
    },
    ("GET", _ONE + "/events"): {
        "summary": "Read a seq range of events",
        "parameters": [
            *_SEQ_RANGE,
            _query("limit", "integer", "Read one page of at most this many events."),
            _query("cursor", "integer", "The agentstore-cursor header of the previous page."),
        ],
        "responses": {"200": _LINES},
    },
    ("POST", wire.API + "/appends"): {
        "summary": "Several sessions' appends in one request, each answered on its own",
        "description": (
            "What a remote client sends when its tasks append at once: each append is all "
            "or none and fails alone; the results come in the order of the appends."
        ),
        "body": {
            "type": "object",
            "required": ["appends"],
            "properties": {"appends": {"type": "array", "items": {"type": "object"}}},
        },
        "responses": {"200": _json({"type": "object"})},
    },
    ("POST", _ONE + "/import"): {
        "summary": "Add events stamped elsewhere (a copy), keeping their ids, seqs and times",
        "body": {
            "type": "object",
            "properties": {"events": {"type": "array", "items": _ref("Event")}},
            "required": ["events"],
        },
        "responses": {"204": {"description": "Imported."}},
    },
    ("GET", _ONE + "/replay"): {
        "summary": "Replay events filtered by type, time and seq, streamed",
        "parameters": [
            _query("types", "string", "Comma-separated event types to keep."),
            _query("since", "string", "Keep events stamped at or after this RFC 3339 time."),
            _query("until", "string", "Keep events stamped at or before this RFC 3339 time."),
            *_SEQ_RANGE,
        ],
        "responses": {"200": _LINES},
    },
    ("GET", _ONE + "/state"): {
        "summary": "The state folded from the events, latest or after a seq",
        "parameters": [_query("at_seq", "integer", "The state after this seq (0: before any).")],
        "responses": {"200": _json(_ref("State"))},
    },
    ("GET", _ONE + "/stats"): {
        "summary": "A session's figures: tokens, cost, calls per model and tool",
        "responses": {"200": _json({"type": "object"})},
    },
    ("POST", _ONE + "/fork"): {
        "summary": "Fork a session after a seq",
        "body": {
            "type": "object",
            "required": ["at_seq"],
            "properties": {
                "at_seq": {"type": "integer"},
                "name": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "id": {"type": "string"},
            },
        },
        "responses": {"201": _json(_ref("Session"))},
    },
    ("GET", _ONE + "/snapshot"): {
        "summary": "The session's latest saved state, if any",
        "responses": {
            "200": _json(
                {"type": "object", "properties": {"snapshot": {"type": ["object", "null"]}}}
            )
        },
    },
    ("PUT", _ONE + "/snapshot"): {
        "summary": "Keep a state folded by a client, unless a newer one is kept",
        "body": {"type": "object"},
        "responses": {"204": {"description": "Kept (or a newer one was)."}},
    },
    ("GET", _ONE + "/verify"): {
        "summary": "Check how the session is stored; nothing is repaired",
        "responses": {
            "200": _json(
                {
                    "type": "object",
                    "properties": {"problems": {"type": "array", "items": _ref("Problem")}},
                }
            )
        },
    },
    ("GET", _ONE + "/watch"): {
        "summary": "Watch a session: its stored events from from_seq, then new ones",
        "description": (
            "Reconnecting with Last-Event-ID (the last seq received) resumes after it, "
            "without loss or repetition."
        ),
        "parameters": [
            _query("from_seq", "integer", "The first seq sent."),
            _query("live", "boolean", "Send only events appended from now on."),
            _query("timeout", "number", "End after this many seconds without an event."),
            {
                "name": "Last-Event-ID",
                "in": "header",
                "schema": {"type": "integer"},
                "description": "Resume after this seq.",
            },
        ],
        "responses": {"200": _SSE},
    },
    ("GET", wire.API + "/watch"): {
        "summary": "Watch every session: the events appended from now on",
        "parameters": [_query("timeout", "number", "End after this many seconds idle.")],
        "responses": {"200": _SSE},
    },
    ("POST", wire.API + "/traces"): {
        "summary": "Record OpenTelemetry GenAI spans as events (OTLP over HTTP)",
        "description": (
            "An OTLP ExportTraceServiceRequest, in protobuf or in OTLP's JSON, maybe gzipped: "
            "its GenAI spans become events of their conversation's session (else their "
            "trace's), created if missing; other spans are ignored. Point an agent's OTLP "
            "span exporter at this path. The answer is an ExportTraceServiceResponse in the "
            "request's encoding, whose partial_success counts spans not recorded."
        ),
        "bodies": {
            "application/x-protobuf": {"type": "string", "format": "binary"},
            "application/json": {"type": "object", "properties": {"resourceSpans": {}}},
        },
        "responses": {
            "200": {
                "description": "An ExportTraceServiceResponse.",
                "content": {
                    "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
                    "application/json": {"schema": {"type": "object"}},
                },
            },
            "415": _json(_ref("Error"), "Neither protobuf nor JSON, or compressed otherwise."),
            "501": _json(_ref("Error"), "The server lacks the otel extra."),
        },
    },
    ("GET", wire.API + "/health"): {
        "summary": "Whether the server is up (no token needed)",
        "responses": {"200": _json({"type": "object"})},
    },
    ("GET", wire.API + "/openapi.json"): {
        "summary": "This document (no token needed)",
        "responses": {"200": _json({"type": "object"})},
    },
}

_LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
_SCHEMAS: dict[str, Any] = {
    "Session": {
        "type": "object",
        "required": ["id", "created_at", "event_count"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "labels": _LABELS,
            "created_at": {"type": "string"},
            "updated_at": {"type": "string"},
            "event_count": {"type": "integer"},
            "parent_id": {"type": "string"},
            "forked_at_seq": {"type": "integer"},
        },
    },
    "NewSession": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "labels": _LABELS,
            "exist_ok": {"type": "boolean"},
            "created_at": {"type": "string"},
            "parent_id": {"type": "string"},
            "forked_at_seq": {"type": "integer"},
            "history": {"type": "array", "items": _ref("Event")},
        },
    },
    "SessionUpdate": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "labels": _LABELS,
            "remove_labels": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Draft": {
        "type": "object",
        "required": ["type"],
        "properties": {
            "id": {"type": "string"},
            "type": {"type": "string"},
            "payload": {},
            "metadata": {"type": "object"},
        },
    },
    "Append": {
        "type": "object",
        "required": ["events"],
        "properties": {
            "events": {"type": "array", "items": _ref("Draft")},
            "expected_seq": {"type": "integer"},
        },
    },
    "Event": {
        "type": "object",
        "required": ["session_id", "sequence_number", "type", "timestamp", "id"],
        "properties": {
            "session_id": {"type": "string"},
            "sequence_number": {"type": "integer"},
            "type": {"type": "string"},
            "payload": {},
            "timestamp": {"type": "string"},
            "metadata": {"type": "object"},
            "id": {"type": "string"},
        },
    },
    "State": {"type": "object"},
    "Problem": {
        "type": "object",
        "properties": {
            "session_id": {"type": "string"},
            "where": {"type": "string"},
            "reason": {"type": "string"},
            "severity": {"type": "string"},
        },
    },
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["type", "message"],
                "properties": {
                    "type": {"type": "string", "description": "The agentstore error class."},
                    "message": {"type": "string"},
                },
            }
        },
    },
}
_ERRORS = {
    "400": _json(_ref("Error"), "Bad input (InvalidArgumentError, InvalidEventError, ...)."),
    "401": _json(_ref("Error"), "No token, or not one the server accepts."),
    "403": _json(_ref("Error"), "A write with a read-only token, or to a read-only store."),
    "404": _json(_ref("Error"), "No such session (SessionNotFoundError)."),
    "409": _json(_ref("Error"), "SessionExistsError, or ConcurrencyError."),
    "413": _json(_ref("Error"), "The request body is larger than the server accepts."),
}


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI document, built once."""
    paths: dict[str, dict[str, Any]] = {}
    for (method, path), spec in OPERATIONS.items():
        operation: dict[str, Any] = {"summary": spec["summary"]}
        if "description" in spec:
            operation["description"] = spec["description"]
        parameters = list(spec.get("parameters", []))
        if "{session_id}" in path:
            parameters.insert(
                0,
                {
                    "name": "session_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                },
            )
        if parameters:
            operation["parameters"] = parameters
        bodies = spec.get("bodies") or (
            {"application/json": spec["body"]} if "body" in spec else {}
        )
        if bodies:
            content = {media: {"schema": schema} for media, schema in bodies.items()}
            operation["requestBody"] = {"required": True, "content": content}
        operation["responses"] = {**spec["responses"], **_ERRORS}
        paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "agentstore", "version": agentstore.__version__},
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }
