"""Messages, and other stored values, in the shapes the GenAI conventions send.

An ``llm_request`` holds the messages of whatever client made it (OpenAI's, Anthropic's,
LangChain's); the conventions send them as ``{"role", "parts": [...]}`` in JSON text
(``gen_ai.input.messages``, ``gen_ai.output.messages``). Stored data may hold anything:
every function here takes any value and returns one the conventions accept.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["input_messages", "json_text", "output_messages", "text_of"]


def text_of(payload: Any, key: str) -> str:
    """``payload[key]`` if it is text, else ``""`` (stored data may hold anything).

    Payloads are JSON: their objects are dicts (not the slower ``Mapping`` check).
    """
    if isinstance(payload, dict):
        value = payload.get(key)
        if isinstance(value, str):
            return value
    return ""


def json_text(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer beyond 64 bits, which another writer may have stored
        return json.dumps(value, ensure_ascii=False, default=repr)


def input_messages(request: Any) -> list[Any]:
    """The messages of an ``llm_request``'s ``request``, whatever client's shape it has."""
    if isinstance(request, dict) and isinstance(request.get("messages"), list):
        return [_message(message) for message in request["messages"]]
    if isinstance(request, dict) and isinstance(request.get("prompts"), list):
        return [_message({"role": "user", "content": prompt}) for prompt in request["prompts"]]
    if isinstance(request, list):
        return [_message(message) for message in request]
    return [_message({"role": "user", "content": request})]


def output_messages(payload: Any) -> list[Any]:
    """The answer of an ``llm_response`` as one assistant message."""
    if not isinstance(payload, dict):
        return [_message({"role": "assistant", "content": payload})]
    content = payload.get("content")
    if content is None and "response" in payload:  # a response of no known shape
        content = json_text(payload["response"])
    answer = {"role": "assistant", "content": content, "tool_calls": payload.get("tool_calls")}
    message = _message(answer)
    reason = text_of(payload, "finish_reason")
    return [{**message, "finish_reason": reason} if reason else message]


def _message(message: Any) -> Any:
    if not isinstance(message, dict) or not isinstance(message.get("role"), str):
        return {"role": "user", "parts": _parts(message)}
    if isinstance(message.get("parts"), list):
        return message  # the conventions' shape already
    role: str = message["role"]
    if role == "tool" and text_of(message, "tool_call_id"):
        part = {"type": "tool_call_response", "id": message["tool_call_id"]}
        return {"role": role, "parts": [{**part, "response": message.get("content")}]}
    parts = _parts(message.get("content"))
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        parts += [_tool_call(call) for call in calls if isinstance(call, dict)]
    shaped = {"role": role, "parts": parts}
    return {**shaped, "name": message["name"]} if text_of(message, "name") else shaped


def _parts(content: Any) -> list[Any]:
    if content is None:
        return []
    if isinstance(content, list):
        return [_part(item) for item in content]
    return [_part(content)]


def _part(item: Any) -> Any:
    if isinstance(item, str):
        return {"type": "text", "content": item}
    if isinstance(item, dict) and item.get("type") == "text" and text_of(item, "text"):
        return {"type": "text", "content": item["text"]}  # OpenAI's and Anthropic's text
    if isinstance(item, dict) and isinstance(item.get("type"), str):
        return item
    return {"type": "text", "content": json_text(item)}


def _tool_call(call: dict[str, Any]) -> dict[str, Any]:
    """A tool call an LLM asked for, from OpenAI's or LangChain's shape."""
    function = call.get("function")
    named = function if isinstance(function, dict) else call
    arguments = named.get("arguments", call.get("args"))
    shaped: dict[str, Any] = {"type": "tool_call", "name": text_of(named, "name")}
    if text_of(call, "id"):
        shaped["id"] = call["id"]
    return {**shaped, "arguments": arguments} if arguments is not None else shaped
