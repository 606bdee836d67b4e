"""One line about an event, for timelines: what a human looks for first in each type.

The user's text, the tool's name and its arguments or how long it took, the model with its
tokens and cost, the error's message. Payloads are free-form, so each summary looks for the
keys agents and the seed library commonly use and falls back to the payload as compact JSON.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from agentstore.events import Event, Metadata
from agentstore.reports.text import printable
from agentstore.state import UNKNOWN_USAGE

__all__ = ["format_cost", "format_duration", "summarize"]

_TEXT_KEYS = ("content", "text", "message", "prompt", "input", "query")
_ERROR_KEYS = ("error", "message", "error_message", "reason")
_TOOL_KEYS = ("tool", "tool_name", "name")


def summarize(event: Event, *, width: int = 100) -> str:
    """Return a one-line human summary of ``event``, at most ``width`` characters.

    Characters a terminal would act on are shown as escapes (:func:`printable`).
    """
    payload = event.payload
    if not isinstance(payload, dict):
        return _shorten(printable(_compact(payload)), width)
    text = _SUMMARIES.get(event.type, _custom)(payload, event.metadata)
    return _shorten(printable(text), width)  # stored text is untrusted: no escapes pass


def format_duration(milliseconds: float) -> str:
    """``640 ms``, ``1.2 s``, ``3m05s`` or ``2h03m``: short and still exact enough to read."""
    if milliseconds < 1000:
        return f"{milliseconds:.0f} ms"
    seconds = milliseconds / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_cost(cost_usd: float) -> str:
    """Dollars with four decimals, or two significant digits below a tenth of a cent.

    LLM calls often cost fractions of a cent: ``$0.0180``, ``$0.00012``, ``$0.000027``,
    never ``$0.0000`` for a call that cost something.
    """
    if 0 < abs(cost_usd) < 0.001:
        decimals = 1 - math.floor(math.log10(abs(cost_usd)))  # two significant digits
        return f"${cost_usd:.{decimals}f}".rstrip("0").ljust(7, "0")  # $0.0002, $0.00012
    return f"${cost_usd:.4f}"


def _user_message(payload: Mapping[str, Any], metadata: Metadata) -> str:
    text = _first_text(payload, _TEXT_KEYS)
    return _quoted(text) if text is not None else _compact(payload)


def _plan(payload: Mapping[str, Any], metadata: Metadata) -> str:
    steps = payload.get("steps")
    if isinstance(steps, list) and steps:
        names = [step if isinstance(step, str) else _compact(step) for step in steps]
        return f"{len(steps)} steps: " + " → ".join(names)
    text = _first_text(payload, ("plan", *_TEXT_KEYS))
    return text if text is not None else _compact(payload)


def _tool_called(payload: Mapping[str, Any], metadata: Metadata) -> str:
    name = _tool_name(payload, metadata)
    arguments = payload.get("arguments", payload.get("args", payload.get("input")))
    if arguments is None:
        arguments = {key: value for key, value in payload.items() if key not in _TOOL_KEYS}
    if isinstance(arguments, dict):
        shown = ", ".join(f"{key}={_compact(value)}" for key, value in arguments.items())
    else:
        shown = _quoted(arguments) if isinstance(arguments, str) else _compact(arguments)
    return f"{name or 'tool'}({shown})"


def _tool_result(payload: Mapping[str, Any], metadata: Metadata) -> str:
    name = _tool_name(payload, metadata) or "tool"
    took = f" in {format_duration(metadata.duration_ms)}" if metadata.duration_ms else ""
    result = payload.get("result", payload.get("output", payload))
    return f"{name}{took} → {_compact(result)}"


def _llm_response(payload: Mapping[str, Any], metadata: Metadata) -> str:
    return _llm(payload, metadata, answer=True)


def _llm(payload: Mapping[str, Any], metadata: Metadata, *, answer: bool = False) -> str:
    parts = [metadata.model or "llm"]
    tokens = [f"{count:,} {way}" for count, way in _token_counts(metadata) if count]
    if tokens:
        parts.append(" / ".join(tokens))
    if metadata.cost_usd:
        parts.append(format_cost(metadata.cost_usd))
    elif answer and tokens and not metadata.cost_source:
        parts.append("unpriced")  # the state counts it too: cost unknown, not free
    elif answer and metadata.cost_source == UNKNOWN_USAGE:
        parts.append("usage unknown")  # so are these: tokens and cost unknown, not 0
    if metadata.duration_ms:
        parts.append(format_duration(metadata.duration_ms))
    text = _first_text(payload, _TEXT_KEYS)
    if text is None:
        text = _request_text(payload.get("request"))
    if text is not None:
        parts.append(_quoted(text))
    elif calls := _tool_call_names(payload.get("tool_calls")):
        parts.append("calls " + ", ".join(calls))
    elif answer and payload.get("response") is not None:
        parts.append(_compact(payload["response"]))  # a response the recorder could not read
    return " · ".join(parts)


def _tool_call_names(calls: Any) -> list[str]:
    """The tools an answer asks for (LangChain's ``name`` or OpenAI's ``function.name``)."""
    if not isinstance(calls, list):
        return []
    names = []
    for call in calls:
        if isinstance(call, dict):
            function = call.get("function")
            name = call.get("name", function.get("name") if isinstance(function, dict) else None)
            if isinstance(name, str):
                names.append(name)
    return names


def _request_text(request: Any) -> str | None:
    """The prompt of a recorded request: its text, or the last message's."""
    if isinstance(request, str):
        return request
    if not isinstance(request, dict):
        return None
    messages = request.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
        return _first_text(messages[-1], _TEXT_KEYS)
    return _first_text(request, _TEXT_KEYS)


def _error(payload: Mapping[str, Any], metadata: Metadata) -> str:
    message = _first_text(payload, _ERROR_KEYS)
    kind = payload.get("error_type", payload.get("type", payload.get("exception")))
    text = message if message is not None else _compact(payload)
    if isinstance(kind, str) and kind:
        text = f"{kind}: {text}"
    name = _tool_name(payload, metadata)
    return f"{name}: {text}" if name else text


def _state(payload: Mapping[str, Any], metadata: Metadata) -> str:
    return _compact(payload)


def _custom(payload: Mapping[str, Any], metadata: Metadata) -> str:
    if payload or not metadata.extra:
        return _compact(payload)
    return _compact(dict(metadata.extra))


def _conversation_items(payload: Mapping[str, Any], metadata: Metadata) -> str:
    items = payload.get("items")
    if not isinstance(items, list):
        return _compact(payload)
    return " | ".join(_item(item) for item in items) or "no items"


def _item(item: Any) -> str:
    """A conversation item of the OpenAI Agents SDK (a Responses API input item)."""
    if not isinstance(item, dict):
        return _compact(item)
    kind, role = item.get("type"), item.get("role")
    if kind == "function_call":
        return f"→ {item.get('name', 'tool')}({_item_text(item.get('arguments'))})"
    if kind == "function_call_output":
        return f"← {_item_text(item.get('output'))}"
    if isinstance(role, str):
        return f"{role}: {_item_text(item.get('content'))}"
    return _compact(item)


def _item_text(content: Any) -> str:
    if isinstance(content, str):
        return " ".join(content.split())
    if isinstance(content, list):  # content parts: {"type": "output_text", "text": ...}
        parts = [part.get("text") for part in content if isinstance(part, dict)]
        return " ".join(" ".join(part.split()) for part in parts if isinstance(part, str))
    return _compact(content)


def _conversation_pop(payload: Mapping[str, Any], metadata: Metadata) -> str:
    return "removed " + _item(payload.get("item"))


def _agent(payload: Mapping[str, Any], metadata: Metadata) -> str:
    name = payload.get("agent")
    text = name if isinstance(name, str) else _compact(payload)
    tools = payload.get("tools")
    if isinstance(tools, list) and tools:
        text += " (tools: " + ", ".join(str(tool) for tool in tools) + ")"
    if metadata.duration_ms:
        text += f" in {format_duration(metadata.duration_ms)}"
    return text


def _handoff(payload: Mapping[str, Any], metadata: Metadata) -> str:
    return f"{payload.get('from_agent', '?')} → {payload.get('to_agent', '?')}"


_SUMMARIES: dict[str, Callable[[Mapping[str, Any], Metadata], str]] = {
    "user_message": _user_message,
    "plan_created": _plan,
    "tool_called": _tool_called,
    "tool_result": _tool_result,
    "llm_request": _llm,
    "llm_response": _llm_response,
    "state_updated": _state,
    "error": _error,
    # What agentstore.integrations.openai_agents records.
    "conversation.items": _conversation_items,
    "conversation.pop": _conversation_pop,
    "conversation.clear": lambda payload, metadata: "cleared the conversation",
    "agent.start": _agent,
    "agent.end": _agent,
    "agent.handoff": _handoff,
}


def _token_counts(metadata: Metadata) -> tuple[tuple[int, str], ...]:
    return (metadata.tokens_in, "in"), (metadata.tokens_out, "out")


def _tool_name(payload: Mapping[str, Any], metadata: Metadata) -> str:
    if metadata.tool_name:
        return metadata.tool_name
    name = _first_text(payload, _TOOL_KEYS)
    return name or ""


def _first_text(payload: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = payload.get(key)
        if isinstance(value, str):
            return value
    return None


def _quoted(text: str) -> str:
    return "“" + " ".join(text.split()) + "”"  # one line, however many the text has


def _compact(value: object) -> str:
    return orjson.dumps(value).decode()


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"
