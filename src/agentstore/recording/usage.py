"""Model, tokens and text read from the LLM responses agents already hold (pure, no I/O).

Duck-typed, so no client library is needed: the objects of the ``openai`` and
``anthropic`` packages and their ``model_dump()`` dicts are read alike. Known shapes:

- OpenAI Chat Completions (``object == "chat.completion"``): ``usage.prompt_tokens``,
  ``usage.completion_tokens``, ``usage.prompt_tokens_details.cached_tokens`` and
  ``.cache_write_tokens``;
- OpenAI Responses (``object == "response"``): ``usage.input_tokens``,
  ``usage.output_tokens``, ``usage.input_tokens_details.cached_tokens`` and
  ``.cache_write_tokens``;
- Anthropic Messages (``type == "message"``): ``usage.input_tokens``,
  ``usage.output_tokens``, ``usage.cache_read_input_tokens``,
  ``usage.cache_creation_input_tokens``.

``tokens_in`` always counts every prompt token: Anthropic reports cached tokens apart from
``input_tokens``, so they are added to it. The OpenAI shapes name no provider: many servers
speak them (Azure, OpenRouter, vLLM, Ollama, ...), so only the caller knows which one
answered; an Anthropic Message is Anthropic's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Usage", "extract_usage"]


@dataclass(frozen=True, slots=True)
class Usage:
    """What an LLM response says about itself."""

    model: str = ""
    provider: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    content: str | None = None


def extract_usage(response: Any) -> Usage | None:
    """Read model, provider, tokens and text from an LLM response object or dict.

    Args:
        response: an OpenAI ``ChatCompletion`` or ``Response``, an Anthropic ``Message``,
            or the dict of one.

    Returns:
        The usage, or None when ``response`` has none of the known shapes.
    """
    kind = _field(response, "object")
    if kind == "chat.completion":
        return _chat_completion(response)
    if kind == "response":
        return _openai_response(response)
    if _field(response, "type") == "message" and _field(response, "role") == "assistant":
        return _anthropic_message(response)
    usage = _field(response, "usage")
    if _field(usage, "prompt_tokens") is not None:
        return _chat_completion(response)
    return None


def _chat_completion(response: Any) -> Usage:
    usage = _field(response, "usage")
    details = _field(usage, "prompt_tokens_details")
    choices = _field(response, "choices") or ()
    message = _field(choices[0], "message") if choices else None
    content = _field(message, "content")
    return Usage(
        model=_text(_field(response, "model")),
        tokens_in=_count(_field(usage, "prompt_tokens")),
        tokens_out=_count(_field(usage, "completion_tokens")),
        cache_read_tokens=_count(_field(details, "cached_tokens")),
        cache_write_tokens=_count(_field(details, "cache_write_tokens")),
        content=content if isinstance(content, str) else None,
    )


def _openai_response(response: Any) -> Usage:
    usage = _field(response, "usage")
    details = _field(usage, "input_tokens_details")
    return Usage(
        model=_text(_field(response, "model")),
        tokens_in=_count(_field(usage, "input_tokens")),
        tokens_out=_count(_field(usage, "output_tokens")),
        cache_read_tokens=_count(_field(details, "cached_tokens")),
        cache_write_tokens=_count(_field(details, "cache_write_tokens")),
        content=_response_text(response),
    )


def _response_text(response: Any) -> str | None:
    text = getattr(response, "output_text", None)  # the openai package's own property
    if isinstance(text, str):
        return text
    parts = [
        _field(part, "text")
        for item in _field(response, "output") or ()
        if _field(item, "type") == "message"
        for part in _field(item, "content") or ()
        if _field(part, "type") == "output_text"
    ]
    return "".join(part for part in parts if isinstance(part, str)) if parts else None


def _anthropic_message(response: Any) -> Usage:
    usage = _field(response, "usage")
    cache_read = _count(_field(usage, "cache_read_input_tokens"))
    cache_write = _count(_field(usage, "cache_creation_input_tokens"))
    texts = [
        _field(block, "text")
        for block in _field(response, "content") or ()
        if _field(block, "type") == "text"
    ]
    return Usage(
        model=_text(_field(response, "model")),
        provider="anthropic",
        tokens_in=_count(_field(usage, "input_tokens")) + cache_read + cache_write,
        tokens_out=_count(_field(usage, "output_tokens")),
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        content="".join(text for text in texts if isinstance(text, str)) if texts else None,
    )


def _field(value: Any, name: str) -> Any:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return value.get(name)
    return getattr(value, name, None)


def _count(value: Any) -> int:
    return value if type(value) is int and value >= 0 else 0


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
