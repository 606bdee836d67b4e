"""OpenTelemetry both ways: sessions exported as GenAI traces, GenAI spans recorded as events.

The ``otel`` extra installs the OpenTelemetry SDK and its OTLP HTTP exporter::

    pip install 'agentstore[otel]'

:mod:`agentstore.otel.conventions` holds the GenAI attribute names agentstore reads and
writes, and how a session maps to a trace.
"""

from __future__ import annotations

from agentstore.otel.export import (
    export_sessions,
    session_resource,
    session_spans,
    session_trace_id,
)
from agentstore.otel.processor import RecordingSpanProcessor

__all__ = [
    "RecordingSpanProcessor",
    "export_sessions",
    "session_resource",
    "session_spans",
    "session_trace_id",
]
