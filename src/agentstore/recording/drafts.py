"""The events a recorder appends, drafted by pure functions (no I/O).

A draft is an event's type, payload and metadata, in the shapes the timeline, the stats
and the default reducer read; :class:`agentstore.recording.Recorder` and its async twin
only append them.
"""

from __future__ import annotations

import dataclasses
import datetime as _datetime
import inspect
from collections.abc import Mapping
from typing import Any

from agentstore import timestamps
from agentstore.errors import InvalidEventError
from agentstore.events import Event, Metadata
from agentstore.metadata import EMPTY_METADATA
from agentstore.recording.pricing import price
from agentstore.recording.usage import Usage, extract_usage

__all__ = [
    "CALLER",
    "Draft",
    "error_draft",
    "llm_request_draft",
    "llm_response_draft",
    "payload_error",
    "plan_draft",
    "state_draft",
    "to_json",
    "tool_arguments",
    "tool_called_draft",
    "tool_result_draft",
    "user_message_draft",
    "with_cause",
]

Draft = tuple[str, Any, Metadata]
"""An event to append: its type, payload and metadata."""

_MAX_DEPTH = 32
CALLER = "caller"
"""The ``cost_source`` of a cost the caller gave the recorder."""
_INT64 = 1 << 63
_USAGE_FIELDS = tuple(field.name for field in dataclasses.fields(Usage))


def user_message_draft(content: Any, fields: Mapping[str, Any], worker: str) -> Draft:
    """A ``user_message``: ``{"content": ..., **fields}``."""
    return "user_message", {"content": content, **fields}, _worker(worker)


def plan_draft(steps: Any, fields: Mapping[str, Any], worker: str) -> Draft:
    """A ``plan_created``: ``{"steps": [...], **fields}``."""
    listed = [steps] if isinstance(steps, str) else list(steps)
    return "plan_created", {"steps": listed, **fields}, _worker(worker)


def tool_called_draft(name: str, arguments: Any, fields: Mapping[str, Any], worker: str) -> Draft:
    """A ``tool_called``: ``{"tool": name, "arguments": ...}`` naming the tool."""
    metadata = Metadata(tool_name=name, worker_id=worker)
    return "tool_called", {"tool": name, "arguments": arguments, **fields}, metadata


def tool_result_draft(
    called: Event, result: Any, duration_ms: float | None, fields: Mapping[str, Any], worker: str
) -> Draft:
    """A ``tool_result`` answering ``called``: ``{"tool": name, "result": ...}``."""
    name = called.metadata.tool_name
    metadata = Metadata(
        tool_name=name,
        duration_ms=_duration(called, duration_ms),
        cause_id=called.id,
        worker_id=worker,
    )
    return "tool_result", {"tool": name, "result": result, **fields}, metadata


def error_draft(
    error: BaseException | str,
    *,
    tool_name: str,
    cause: Event | None,
    duration_ms: float | None,
    fields: Mapping[str, Any],
    worker: str,
) -> Draft:
    """An ``error``: ``{"error": message, "error_type": class name}``, and the tool if any."""
    payload: dict[str, Any] = {"error": str(error)}
    if isinstance(error, BaseException):
        payload["error_type"] = type(error).__name__
    if tool_name:
        payload["tool"] = tool_name
    metadata = Metadata(
        tool_name=tool_name,
        duration_ms=_duration(cause, duration_ms),
        cause_id="" if cause is None else cause.id,
        worker_id=worker,
    )
    return "error", {**payload, **fields}, metadata


def llm_request_draft(
    model: str, request: Any, provider: str, fields: Mapping[str, Any], worker: str
) -> Draft:
    """An ``llm_request``: ``{"model": ..., "request": ...}`` with model and provider."""
    payload: dict[str, Any] = {"model": model}
    if request is not None:
        payload["request"] = request
    metadata = Metadata(model=model, provider=provider, worker_id=worker)
    return "llm_request", {**payload, **fields}, metadata


def llm_response_draft(
    request: Event | None,
    response: Any,
    given: Mapping[str, Any],
    fields: Mapping[str, Any],
    *,
    worker: str,
    priced: bool,
) -> Draft:
    """An ``llm_response``: ``{"content": text}`` with model, tokens, duration and cost.

    What ``response`` says (see :func:`agentstore.recording.usage.extract_usage`) is overridden by
    the values ``given`` that are not None. The model is the one the response names (the
    exact version served), else the request's; the provider is the request's, else the
    response's (the caller knows which server it called; a response's shape does not).
    A cost given is recorded with ``cost_source="caller"``, even 0; otherwise the tokens
    are priced (when ``priced``).
    """
    usage = extract_usage(response) if response is not None else None
    facts: dict[str, Any] = {} if usage is None else _usage_facts(usage)
    if request is not None:
        facts["model"] = facts.get("model") or request.metadata.model
        facts["provider"] = request.metadata.provider or facts.get("provider", "")
        facts["cause_id"] = request.id
    facts.update((key, value) for key, value in given.items() if value is not None)
    content = facts.pop("content", None)
    facts["duration_ms"] = _duration(request, facts.get("duration_ms"))
    if given.get("cost_usd") is not None:
        facts["cost_source"] = CALLER
    metadata = Metadata(worker_id=worker, **facts)
    if priced:
        metadata = price(metadata)
    return "llm_response", {"content": content, **fields}, metadata


def _usage_facts(usage: Usage) -> dict[str, Any]:
    # Not dataclasses.asdict: it deep-copies every field, and costs a third of the draft.
    return {name: getattr(usage, name) for name in _USAGE_FIELDS}


def state_draft(data: Mapping[str, Any], worker: str) -> Draft:
    """A ``state_updated`` whose payload is ``data``."""
    return "state_updated", dict(data), _worker(worker)


def with_cause(metadata: Metadata | None, cause: Event | None) -> Metadata:
    """``metadata`` pointing at ``cause`` (if given)."""
    metadata = EMPTY_METADATA if metadata is None else metadata
    return metadata if cause is None else dataclasses.replace(metadata, cause_id=cause.id)


def tool_arguments(signature: inspect.Signature | None, args: Any, kwargs: Any) -> Any:
    """The arguments of a call by parameter name (positional and keyword if unbindable)."""
    if signature is not None:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            pass
        else:
            bound.apply_defaults()
            return dict(bound.arguments)
    return {"args": list(args), "kwargs": dict(kwargs)}


def to_json(value: Any, depth: int = 0) -> Any:
    """``value`` as plain JSON: models dumped, dataclasses as dicts, other objects as repr.

    For what tools take and return, which are often not JSON; the store refuses them as
    they are, and losing a tool's result to that would be worse than a repr.
    """
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        return value if -_INT64 <= value < _INT64 else str(value)  # JSON readers stop at 64 bits
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else repr(value)
    if depth >= _MAX_DEPTH:
        return repr(value)
    if isinstance(value, Mapping):
        return {str(key): to_json(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json(item, depth + 1) for item in value]
    return to_json(_plain(value), depth + 1)


def _plain(value: Any) -> Any:
    try:
        dump = getattr(value, "model_dump", None)  # pydantic models: every SDK's responses
        if callable(dump):
            return dump(mode="json")
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            # Field by field, not dataclasses.asdict: that deep-copies, and fails on a
            # lock or a client held in a field.
            return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
        if isinstance(value, (_datetime.datetime, _datetime.date)):
            return value.isoformat()
        return repr(value)
    except Exception:  # noqa: BLE001 - what cannot be read is recorded as the object's name
        return object.__repr__(value)


def _worker(worker: str) -> Metadata:
    return Metadata(worker_id=worker) if worker else EMPTY_METADATA


def _duration(started: Event | None, duration_ms: float | None) -> int:
    if duration_ms is not None:
        return max(round(duration_ms), 0)
    if started is None or started.timestamp == timestamps.UNSET:
        return 0
    elapsed = timestamps.now() - started.timestamp
    return max(round(elapsed.total_seconds() * 1000), 0)


def payload_error(error: InvalidEventError) -> bool:
    """Whether the store refused an event for its payload (worth a :func:`to_json` retry)."""
    return error.path.startswith("payload")
