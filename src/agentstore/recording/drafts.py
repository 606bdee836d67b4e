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
from agentstore.state import UNKNOWN_USAGE

__all__ = [
    "CALLER",
    "Draft",
    "UNKNOWN_USAGE",
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
_USAGE_FIELDS = tuple(
    field.name for field in dataclasses.fields(Usage) if field.name != "tokens_known"
)
_TOKEN_FACTS = frozenset({"tokens_in", "tokens_out"})


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

    A response of no known shape is kept: a string as the content, anything else as JSON
    under ``"response"``. When the response says nothing of its tokens (that, or a known
    shape without usage) and the caller gives no tokens or cost either, the answer is
    recorded with ``cost_source="unknown"`` (:data:`UNKNOWN_USAGE`): its tokens and cost
    are unknown, not 0, and the state counts it in ``tokens.unknown``.
    """
    facts, unread, unknown = _read_response(response)
    if unread is not None:
        fields = {"response": unread, **fields}
    if request is not None:
        facts["model"] = facts.get("model") or request.metadata.model
        facts["provider"] = request.metadata.provider or facts.get("provider", "")
        facts["cause_id"] = request.id
    stated = {key: value for key, value in given.items() if value is not None}
    facts.update(stated)
    content = facts.pop("content", None)
    facts["duration_ms"] = _duration(request, facts.get("duration_ms"))
    if "cost_usd" in stated:
        facts["cost_source"] = CALLER
    elif unknown and not _TOKEN_FACTS.intersection(stated):
        facts["cost_source"] = UNKNOWN_USAGE  # also keeps price() from calling it free
    metadata = Metadata(worker_id=worker, **facts)
    if priced:
        metadata = price(metadata)
    return "llm_response", {"content": content, **fields}, metadata


def _read_response(response: Any) -> tuple[dict[str, Any], Any, bool]:
    # What the response says, the response as JSON if none of it could be read (else
    # None), and whether its usage is unknown.
    if response is None:
        return {}, None, False
    usage = extract_usage(response)
    if usage is not None:
        return _usage_facts(usage), None, not usage.tokens_known
    if isinstance(response, str):  # a client that returns the text alone
        return {"content": response}, None, True
    return {}, to_json(response), True


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
    """The arguments of a call by parameter name (positional and keyword if unbindable).

    A method's ``self`` and a classmethod's ``cls`` (a first parameter of that name) are
    left out: they are the object the tool belongs to, not an argument it was given, and
    recording them would store the object's whole repr or dump with every call.
    """
    receiver = _receiver(signature)
    if signature is not None:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            pass
        else:
            bound.apply_defaults()
            arguments = dict(bound.arguments)
            if receiver:
                arguments.pop(receiver, None)
            return arguments
    return {"args": list(args[1:] if receiver and args else args), "kwargs": dict(kwargs)}


def _receiver(signature: inspect.Signature | None) -> str:
    """The name of the parameter a method is bound to (``self``, ``cls``), or ``""``."""
    if signature is None:
        return ""
    first = next(iter(signature.parameters.values()), None)
    if first is None or first.kind not in _POSITIONAL or first.name not in _RECEIVERS:
        return ""
    return first.name


_RECEIVERS = frozenset({"self", "cls"})
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


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
