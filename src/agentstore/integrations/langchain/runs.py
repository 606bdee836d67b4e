"""What the LangChain handlers share: the runs under way, and LangChain's objects as JSON."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from agentstore.errors import missing_extra

try:
    from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
    from langchain_core.outputs import ChatGeneration, LLMResult
except ModuleNotFoundError as missing:
    raise missing_extra(missing, "langchain", "agentstore.integrations.langchain") from None

from agentstore.events import Event

__all__ = [
    "ModelRequest",
    "NewSession",
    "Runs",
    "chain_name",
    "chat_request",
    "failed_tool",
    "prompt_request",
    "read_answer",
    "tool_call",
    "tool_output",
]


@dataclass(slots=True)
class NewSession:
    """The session a handler records into, if it has to create it."""

    name: str
    labels: dict[str, str]
    # Creating the session is tried once, at the first event: creating it in __init__
    # could not be awaited, and trying before every event would cost a write each.
    ensured: bool = False


@dataclass(frozen=True, slots=True)
class _Failure:
    call: Event | None  # the llm_request or tool_called the failure answers
    chain: str  # the failed chain's name; "" for a model or a tool


class Runs:
    """The runs under way: the start event of each model and tool call, to pair its end
    with, and each chain's name, to name it in its error.

    Entries go when their run ends or fails, so the maps hold only the runs in flight.
    LangChain calls a sync handler from the threads of ``batch`` and of its thread pool,
    so every change holds a lock (never held while recording).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[UUID, Event] = {}
        self._chains: dict[UUID, str] = {}
        # The exception a run inside this one failed with and has recorded: when it
        # propagates, the chains it passes through record nothing more.
        self._reported: dict[UUID, BaseException] = {}

    def call_started(self, run_id: UUID, event: Event) -> None:
        with self._lock:
            self._calls[run_id] = event

    def chain_started(self, run_id: UUID, name: str) -> None:
        with self._lock:
            self._chains[run_id] = name

    def ended(self, run_id: UUID) -> Event | None:
        """Forget a run that ended well; return its start event if it is a call."""
        with self._lock:
            self._chains.pop(run_id, None)
            self._reported.pop(run_id, None)
            return self._calls.pop(run_id, None)

    def failed(
        self, run_id: UUID, parent_run_id: UUID | None, error: BaseException
    ) -> _Failure | None:
        """Forget a failed run; return what to record of it, or None to record nothing."""
        with self._lock:
            call = self._calls.pop(run_id, None)
            chain = self._chains.pop(run_id, None)
            reported = self._reported.pop(run_id, None) is error
            # Only a parent this handler follows is marked: its end clears the mark, and
            # a mark on a run whose end never comes here would stay for good.
            if parent_run_id in self._calls or parent_run_id in self._chains:
                self._reported[parent_run_id] = error
        if _is_control_flow(error):
            return None
        # A call's failure is recorded even when a chain inside it recorded the exception
        # first: the call's event must get its answer.
        if reported and call is None:
            return None
        return _Failure(call, chain or "")


def _is_control_flow(error: BaseException) -> bool:
    # LangGraph's interrupts and commands to a parent graph travel as exceptions through
    # the callbacks; matched by name, so that LangGraph is not a dependency.
    return any(kind.__name__ == "GraphBubbleUp" for kind in type(error).__mro__)


@dataclass(frozen=True, slots=True)
class ModelRequest:
    model: str
    provider: str
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Answer:
    content: str | None
    model: str
    tokens_in: int | None
    tokens_out: int | None
    cache_read_tokens: int | None
    cache_write_tokens: int | None
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _ToolCall:
    name: str
    arguments: Any
    fields: dict[str, Any]


_MODEL_KEYS = ("model", "model_name", "model_id")


def chat_request(
    serialized: Mapping[str, Any] | None,
    messages: Sequence[Sequence[BaseMessage]],
    metadata: Mapping[str, Any] | None,
    options: Mapping[str, Any],
) -> ModelRequest:
    # LangChain starts one run per conversation of a batch, so this is mostly one list.
    body: dict[str, Any] = {"messages": [_message(m) for batch in messages for m in batch]}
    return _request(serialized, metadata, options, body)


def prompt_request(
    serialized: Mapping[str, Any] | None,
    prompts: Sequence[str],
    metadata: Mapping[str, Any] | None,
    options: Mapping[str, Any],
) -> ModelRequest:
    return _request(serialized, metadata, options, {"prompts": list(prompts)})


def _request(
    serialized: Mapping[str, Any] | None,
    metadata: Mapping[str, Any] | None,
    options: Mapping[str, Any],
    body: dict[str, Any],
) -> ModelRequest:
    metadata = metadata or {}
    params = options.get("invocation_params") or {}
    constructor = (serialized or {}).get("kwargs") or {}
    # LangChain's standard name first (ls_model_name, set by the model class), then the
    # parameters sent, then the model's constructor arguments.
    candidates = [
        metadata.get("ls_model_name"),
        *(params.get(key) for key in _MODEL_KEYS),
        *(constructor.get(key) for key in _MODEL_KEYS),
    ]
    model = next((name for name in candidates if isinstance(name, str) and name), "")
    provider = metadata.get("ls_provider")
    return ModelRequest(model, provider if isinstance(provider, str) else "", body)


def _message(message: BaseMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.type, "content": message.content}
    if message.name:
        out["name"] = message.name
    if isinstance(message, AIMessage) and message.tool_calls:
        out["tool_calls"] = _tool_calls(message)
    if isinstance(message, ToolMessage):
        out["tool_call_id"] = message.tool_call_id
    return out


def _tool_calls(message: AIMessage) -> list[dict[str, Any]]:
    return [
        {"id": call.get("id"), "name": call["name"], "args": call["args"]}
        for call in message.tool_calls
    ]


def read_answer(result: LLMResult) -> _Answer:
    generations = [generation for batch in result.generations for generation in batch]
    messages = [
        generation.message
        for generation in generations
        if isinstance(generation, ChatGeneration) and isinstance(generation.message, AIMessage)
    ]
    fields: dict[str, Any] = {}
    if messages and messages[0].tool_calls:
        fields["tool_calls"] = _tool_calls(messages[0])
    # None rather than "" when the model only asked for tools: there is no text to show.
    content = (generations[0].text if generations else "") or None
    usage = next((m.usage_metadata for m in messages if m.usage_metadata), None)
    llm_output = result.llm_output or {}
    model = _answer_model(messages, llm_output)
    if usage is None:
        return _legacy_answer(content, model, llm_output, fields)
    details = usage.get("input_token_details") or {}
    return _Answer(
        content,
        model,
        usage["input_tokens"],
        usage["output_tokens"],
        details.get("cache_read"),
        details.get("cache_creation"),
        fields,
    )


def _answer_model(messages: Sequence[AIMessage], llm_output: Mapping[str, Any]) -> str:
    # The model that answered (a dated version, often) rather than the alias asked for.
    sources = [message.response_metadata for message in messages[:1]] + [llm_output]
    for source in sources:
        for key in ("model_name", "model"):
            name = source.get(key)
            if isinstance(name, str) and name:
                return name
    return ""


def _legacy_answer(
    content: str | None, model: str, llm_output: Mapping[str, Any], fields: dict[str, Any]
) -> _Answer:
    # Models that predate usage_metadata report OpenAI's counts in llm_output.
    usage = llm_output.get("token_usage")
    if not isinstance(usage, Mapping):
        return _Answer(content, model, None, None, None, None, fields)
    details = usage.get("prompt_tokens_details") or {}
    return _Answer(
        content,
        model,
        _count(usage.get("prompt_tokens")),
        _count(usage.get("completion_tokens")),
        _count(details.get("cached_tokens")),
        None,
        fields,
    )


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def tool_call(
    serialized: Mapping[str, Any] | None,
    input_str: str,
    inputs: Mapping[str, Any] | None,
    options: Mapping[str, Any],
) -> _ToolCall:
    serialized = serialized or {}
    # The tool's own name first: the run name (options["name"]) may be set per call.
    name = serialized.get("name") or options.get("name") or "tool"
    arguments = dict(inputs) if inputs is not None else input_str
    call_id = options.get("tool_call_id")
    fields = {"tool_call_id": call_id} if isinstance(call_id, str) and call_id else {}
    return _ToolCall(str(name), arguments, fields)


def tool_output(output: Any) -> tuple[Any, dict[str, Any]]:
    # A tool called with a model's tool call returns a ToolMessage: its content is the
    # result (its artifact, meant for the program and not the model, is left out).
    if not isinstance(output, ToolMessage):
        return output, {}
    fields = {"status": output.status} if output.status != "success" else {}
    return output.content, fields


def failed_tool(failure: _Failure, options: Mapping[str, Any]) -> str:
    if failure.call is not None:
        return failure.call.metadata.tool_name
    name = options.get("name")
    return name if isinstance(name, str) else ""


def chain_name(serialized: Mapping[str, Any] | None, options: Mapping[str, Any]) -> str:
    name = options.get("name") or (serialized or {}).get("name")
    if isinstance(name, str) and name:
        return name
    path = (serialized or {}).get("id")
    return str(path[-1]) if isinstance(path, list) and path else "chain"
