"""Model, tokens and text read from the LLM responses agents already hold (pure, no I/O).

Duck-typed, so no client library is needed: the objects of the ``openai``, ``anthropic``
and ``google-genai`` packages and their ``model_dump()`` dicts are read alike. Known shapes:

- OpenAI Chat Completions (``object == "chat.completion"``): ``usage.prompt_tokens``,
  ``usage.completion_tokens``, ``usage.prompt_tokens_details.cached_tokens`` and
  ``.cache_write_tokens``;
- OpenAI Responses (``object == "response"``): ``usage.input_tokens``,
  ``usage.output_tokens``, ``usage.input_tokens_details.cached_tokens`` and
  ``.cache_write_tokens``;
- Anthropic Messages (``type == "message"`` and a role of ``assistant`` or none; without a
  type, ``usage.input_tokens`` or ``usage.output_tokens`` beside a list of ``content``
  blocks): ``usage.input_tokens``, ``usage.output_tokens``,
  ``usage.cache_read_input_tokens``, ``usage.cache_creation_input_tokens``;
- Gemini ``GenerateContentResponse`` (``usage_metadata`` or ``candidates``; the REST API's
  camelCase names too): ``prompt_token_count`` and ``tool_use_prompt_token_count`` in,
  ``candidates_token_count`` and ``thoughts_token_count`` out (else what
  ``total_token_count`` leaves), ``cached_content_token_count``; the text of
  ``candidates[0].content.parts``, the model in ``model_version``.

``tokens_in`` always counts every prompt token: Anthropic reports cached tokens apart from
``input_tokens``, so they are added to it. The OpenAI shapes name no provider: many servers
speak them (Azure, OpenRouter, vLLM, Ollama, ...), so only the caller knows which one
answered; an Anthropic Message is Anthropic's, a Gemini response Google's. A known shape
that says nothing of its tokens (a stream gathered without its usage, say) is read with
``tokens_known`` False: its tokens are unknown, not 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Usage", "extract_usage"]


@dataclass(frozen=True, slots=True)
class Usage:
    """What an LLM response says about itself.

    ``tokens_known`` is False when the response has a known shape but no usage: its
    tokens (and so its cost) are unknown rather than 0.
    """

    model: str = ""
    provider: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    content: str | None = None
    tokens_known: bool = True


def extract_usage(response: Any) -> Usage | None:
    """Read model, provider, tokens and text from an LLM response object or dict.

    Args:
        response: an OpenAI ``ChatCompletion`` or ``Response``, an Anthropic ``Message``,
            a Gemini ``GenerateContentResponse``, or the dict of one.

    Returns:
        The usage, or None when ``response`` has none of the known shapes.
    """
    kind = _field(response, "object")
    if kind == "chat.completion":
        return _chat_completion(response)
    if kind == "response":
        return _openai_response(response)
    usage = _field(response, "usage")
    if _is_anthropic_message(response, usage):
        return _anthropic_message(response)
    if _field(usage, "prompt_tokens") is not None:
        return _chat_completion(response)
    if _gemini(response, "usage_metadata") is not None or _gemini(response, "candidates"):
        return _gemini_response(response)
    return None


def _is_anthropic_message(response: Any, usage: Any) -> bool:
    if _field(response, "type") == "message":
        return _field(response, "role") in (None, "assistant")  # not a message sent
    # A Message without ``type`` (a dict built or trimmed by hand) is still told by its
    # usage beside content blocks: OpenAI's Responses share the usage names but keep their
    # text in ``output``, and Chat Completions name their usage otherwise.
    counted = (_field(usage, name) is not None for name in ("input_tokens", "output_tokens"))
    return any(counted) and _blocks(_field(response, "content"))


def _blocks(content: Any) -> bool:
    return isinstance(content, Sequence) and not isinstance(content, str)


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
        tokens_known=usage is not None,
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
        tokens_known=usage is not None,
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
        tokens_known=usage is not None,
    )


def _gemini_response(response: Any) -> Usage:
    usage = _gemini(response, "usage_metadata")
    counts = {name: _gemini(usage, name) for name in _GEMINI_COUNTS}
    tokens_in = _count(counts["prompt_token_count"]) + _count(counts["tool_use_prompt_token_count"])
    answered = (counts["candidates_token_count"], counts["thoughts_token_count"])
    if answered == (None, None):  # a blocked answer, say: what the total leaves is the output
        tokens_out = max(_count(counts["total_token_count"]) - tokens_in, 0)
    else:
        tokens_out = _count(answered[0]) + _count(answered[1])  # thinking is billed as output
    return Usage(
        model=_text(_gemini(response, "model_version")),
        provider="google",
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        # A part of the prompt count; bounded by it, so a malformed count cannot make the
        # event one the store refuses.
        cache_read_tokens=min(_count(counts["cached_content_token_count"]), tokens_in),
        content=_gemini_text(response),
        tokens_known=any(count is not None for count in counts.values()),
    )


# As the genai-prices table reads them: tool-use prompt tokens are input, thoughts output.
_GEMINI_COUNTS = (
    "prompt_token_count",
    "tool_use_prompt_token_count",
    "candidates_token_count",
    "thoughts_token_count",
    "total_token_count",
    "cached_content_token_count",
)


def _gemini_text(response: Any) -> str | None:
    candidates = _gemini(response, "candidates")
    if not _blocks(candidates) or not candidates:
        return None
    parts = _gemini(_gemini(candidates[0], "content"), "parts")
    texts = [
        text
        for part in (parts if _blocks(parts) else ())
        if not _gemini(part, "thought")  # a thought summary is not the answer
        and isinstance(text := _gemini(part, "text"), str)
    ]
    return "".join(texts) if texts else None


def _gemini(value: Any, name: str) -> Any:
    """A field by the SDK's snake_case name, else by the REST API's camelCase one."""
    found = _field(value, name)
    if found is None and "_" in name:
        first, *rest = name.split("_")
        found = _field(value, first + "".join(word.capitalize() for word in rest))
    return found


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
