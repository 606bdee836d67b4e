"""Record LangChain runs into an agentstore session, through LangChain's callbacks.

Pass a handler in a run's config, and the model calls, tool calls and failures of that
run, and of every run it starts, become events of one session::

    import agentstore
    from agentstore.integrations.langchain import AgentStoreCallbackHandler

    with agentstore.open("./agent-data") as store:
        handler = AgentStoreCallbackHandler(store, "support-chat-42")
        answer = model.invoke("Where is my parcel?", config={"callbacks": [handler]})

What each callback records (``cause_id``, in the metadata, is the id of the event answered):

- ``on_chat_model_start``, ``on_llm_start``: ``llm_request`` ``{"model", "request":
  {"messages": [{"role", "content", ...}]}}`` (or ``{"prompts": [...]}``), with the model
  and provider (LangChain's ``ls_model_name`` and ``ls_provider``) in its metadata;
- ``on_llm_end``: ``llm_response`` ``{"content", "tool_calls"?}``, with the model that
  answered, the tokens (cache reads and writes too) from the message's ``usage_metadata``
  or ``llm_output["token_usage"]``, the duration and the cost, priced from the tokens;
  ``cause_id`` is its request;
- ``on_tool_start``: ``tool_called`` ``{"tool", "arguments", "tool_call_id"?}``;
- ``on_tool_end``: ``tool_result`` ``{"tool", "result"}`` with the duration; ``cause_id``
  is its call;
- ``on_llm_error``, ``on_tool_error``: ``error`` ``{"error", "error_type", "tool"?}``,
  ``cause_id`` the call that failed;
- ``on_chain_error``: ``error`` ``{"error", "error_type", "chain"}``.

An exception is recorded once, where it was raised, not again by each chain it passes
through on its way out. Chain starts and ends are not recorded: every step of a
``RunnableSequence`` is a chain, and their plumbing would drown the agent's own steps.
LangGraph's interrupts (``GraphBubbleUp``) are control flow, not errors, and are skipped.

The handler records into the session it is given, and creates it (with ``name`` and
``labels``) at the first event if it does not exist, so a conversation's id can be
passed from the first turn on. If recording fails, LangChain logs the error and the run
goes on, as it does for every handler; ``raise_error=True`` fails the run instead.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from agentstore.aio.recording import AsyncRecorder
from agentstore.aio.store import AsyncStore
from agentstore.errors import SessionExistsError
from agentstore.events import Event
from agentstore.recording import Recorder
from agentstore.store import Store

__all__ = ["AgentStoreCallbackHandler", "AsyncAgentStoreCallbackHandler"]

_T = TypeVar("_T")


class AgentStoreCallbackHandler(BaseCallbackHandler):
    """Records a LangChain run's model calls, tool calls and errors into a session.

    For a :class:`agentstore.Store`, with ``invoke``, ``batch`` and ``stream``; LangChain
    may call it from several threads at once, which it supports. With ``ainvoke`` it is
    called on LangChain's thread pool; :class:`AsyncAgentStoreCallbackHandler` records
    from the event loop instead.

    Args:
        store: the store to record into.
        session_id: the session to record into; created at the first event if missing.
        name: the session's name, if the handler creates it.
        labels: the session's labels, if the handler creates it.
        worker_id: recorded in the metadata of every event.
        raise_error: let a failure to record fail the LangChain run; by default
            LangChain logs it and the run goes on.

    Raises:
        InvalidSessionIdError: ``session_id`` is not a valid session id.
    """

    recorder: Recorder
    """Records other events into the same session: user messages, plans, state."""

    def __init__(
        self,
        store: Store,
        session_id: str,
        *,
        name: str = "",
        labels: Mapping[str, str] | None = None,
        worker_id: str = "",
        raise_error: bool = False,
    ) -> None:
        self.recorder = store.recorder(session_id, worker_id=worker_id)
        self.raise_error = raise_error
        self._new_session = _NewSession(name, dict(labels or {}))
        self._runs = _Runs()

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Record an ``llm_request`` with the model's name and the messages sent."""
        request = _chat_request(serialized, messages, metadata, kwargs)
        event = self._recorder().llm_request(request.model, request.body, provider=request.provider)
        self._runs.call_started(run_id, event)

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Record an ``llm_request`` with the model's name and the prompts sent."""
        request = _prompt_request(serialized, prompts, metadata, kwargs)
        event = self._recorder().llm_request(request.model, request.body, provider=request.provider)
        self._runs.call_started(run_id, event)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """Record the ``llm_response`` to the run's request, with its tokens and cost."""
        answer = _answer(response)
        self._recorder().llm_response(
            self._runs.ended(run_id),
            content=answer.content,
            model=answer.model,
            tokens_in=answer.tokens_in,
            tokens_out=answer.tokens_out,
            cache_read_tokens=answer.cache_read_tokens,
            cache_write_tokens=answer.cache_write_tokens,
            **answer.fields,
        )

    def on_llm_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Record an ``error`` answering the run's request."""
        failure = self._runs.failed(run_id, parent_run_id, error)
        if failure is not None:
            self._recorder().error(error, cause=failure.call)

    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Record a ``tool_called`` with the tool's name and arguments."""
        call = _tool_call(serialized, input_str, inputs, kwargs)
        event = self._recorder().tool_called(call.name, call.arguments, **call.fields)
        self._runs.call_started(run_id, event)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Record the ``tool_result`` of the run's call, with how long it took."""
        called = self._runs.ended(run_id)
        if called is not None:  # else recording the call failed, and was reported then
            result, fields = _tool_output(output)
            self._recorder().tool_result(called, result, **fields)

    def on_tool_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Record an ``error`` answering the run's call, with the tool's name."""
        failure = self._runs.failed(run_id, parent_run_id, error)
        if failure is not None:
            name = _failed_tool(failure, kwargs)
            self._recorder().error(error, tool_name=name, cause=failure.call)

    def on_chain_start(
        self, serialized: dict[str, Any], inputs: dict[str, Any], *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Remember the chain's name, for the error it may end with; records nothing."""
        self._runs.chain_started(run_id, _chain_name(serialized, kwargs))

    def on_chain_end(self, outputs: dict[str, Any], *, run_id: UUID, **kwargs: Any) -> None:
        """Forget the chain; records nothing."""
        self._runs.ended(run_id)

    def on_chain_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Record an ``error`` naming the chain, unless a run inside it recorded it."""
        failure = self._runs.failed(run_id, parent_run_id, error)
        if failure is not None:
            self._recorder().error(error, chain=failure.chain)

    def _recorder(self) -> Recorder:
        if not self._new_session.ensured:
            with suppress(SessionExistsError):
                self.recorder.store.create_session(
                    id=self.recorder.session_id,
                    name=self._new_session.name,
                    labels=self._new_session.labels,
                )
            self._new_session.ensured = True
        return self.recorder


class AsyncAgentStoreCallbackHandler(AsyncCallbackHandler):
    """Records a LangChain run's model calls, tool calls and errors into a session.

    The twin of :class:`AgentStoreCallbackHandler` for an :class:`agentstore.aio.AsyncStore`,
    with ``ainvoke``, ``abatch`` and ``astream``: LangChain awaits its callbacks on the
    run's event loop. The sync steps of an async run (a sync tool, a sync function) run on
    threads, where LangChain calls the handler on a loop of its own; the handler then
    records on the store's loop (the one it was made on) and waits for it. Under a sync
    ``invoke`` that blocks the store's loop it cannot, and gives up after 30 s: call
    ``ainvoke`` there, or use :class:`AgentStoreCallbackHandler`.

    Args:
        store: the async store to record into; make the handler on its event loop.
        session_id: the session to record into; created at the first event if missing.
        name: the session's name, if the handler creates it.
        labels: the session's labels, if the handler creates it.
        worker_id: recorded in the metadata of every event.
        raise_error: let a failure to record fail the LangChain run; by default
            LangChain logs it and the run goes on.

    Raises:
        InvalidSessionIdError: ``session_id`` is not a valid session id.
    """

    recorder: AsyncRecorder
    """Records other events into the same session: user messages, plans, state."""

    def __init__(
        self,
        store: AsyncStore,
        session_id: str,
        *,
        name: str = "",
        labels: Mapping[str, str] | None = None,
        worker_id: str = "",
        raise_error: bool = False,
    ) -> None:
        self.recorder = store.recorder(session_id, worker_id=worker_id)
        self.raise_error = raise_error
        self._new_session = _NewSession(name, dict(labels or {}))
        self._runs = _Runs()
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # made outside the loop: its first callback tells
            self._loop = None

    async def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Record an ``llm_request`` with the model's name and the messages sent."""
        request = _chat_request(serialized, messages, metadata, kwargs)
        event = await self._record(
            lambda recorder: recorder.llm_request(
                request.model, request.body, provider=request.provider
            )
        )
        self._runs.call_started(run_id, event)

    async def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Record an ``llm_request`` with the model's name and the prompts sent."""
        request = _prompt_request(serialized, prompts, metadata, kwargs)
        event = await self._record(
            lambda recorder: recorder.llm_request(
                request.model, request.body, provider=request.provider
            )
        )
        self._runs.call_started(run_id, event)

    async def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """Record the ``llm_response`` to the run's request, with its tokens and cost."""
        answer = _answer(response)
        request = self._runs.ended(run_id)
        await self._record(
            lambda recorder: recorder.llm_response(
                request,
                content=answer.content,
                model=answer.model,
                tokens_in=answer.tokens_in,
                tokens_out=answer.tokens_out,
                cache_read_tokens=answer.cache_read_tokens,
                cache_write_tokens=answer.cache_write_tokens,
                **answer.fields,
            )
        )

    async def on_llm_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Record an ``error`` answering the run's request."""
        failure = self._runs.failed(run_id, parent_run_id, error)
        if failure is not None:
            await self._record(lambda recorder: recorder.error(error, cause=failure.call))

    async def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Record a ``tool_called`` with the tool's name and arguments."""
        call = _tool_call(serialized, input_str, inputs, kwargs)
        event = await self._record(
            lambda recorder: recorder.tool_called(call.name, call.arguments, **call.fields)
        )
        self._runs.call_started(run_id, event)

    async def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Record the ``tool_result`` of the run's call, with how long it took."""
        called = self._runs.ended(run_id)
        if called is not None:  # else recording the call failed, and was reported then
            result, fields = _tool_output(output)
            await self._record(lambda recorder: recorder.tool_result(called, result, **fields))

    async def on_tool_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Record an ``error`` answering the run's call, with the tool's name."""
        failure = self._runs.failed(run_id, parent_run_id, error)
        if failure is not None:
            name = _failed_tool(failure, kwargs)
            await self._record(
                lambda recorder: recorder.error(error, tool_name=name, cause=failure.call)
            )

    async def on_chain_start(
        self, serialized: dict[str, Any], inputs: dict[str, Any], *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Remember the chain's name, for the error it may end with; records nothing."""
        self._runs.chain_started(run_id, _chain_name(serialized, kwargs))

    async def on_chain_end(self, outputs: dict[str, Any], *, run_id: UUID, **kwargs: Any) -> None:
        """Forget the chain; records nothing."""
        self._runs.ended(run_id)

    async def on_chain_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Record an ``error`` naming the chain, unless a run inside it recorded it."""
        failure = self._runs.failed(run_id, parent_run_id, error)
        if failure is not None:
            await self._record(lambda recorder: recorder.error(error, chain=failure.chain))

    async def _record(self, write: Callable[[AsyncRecorder], Awaitable[Event]]) -> Event:
        here = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = here
        if self._loop is here:
            return await self._write(write)
        return await _on_loop(self._loop, self._write(write))

    async def _write(self, write: Callable[[AsyncRecorder], Awaitable[Event]]) -> Event:
        if not self._new_session.ensured:
            with suppress(SessionExistsError):
                await self.recorder.store.create_session(
                    id=self.recorder.session_id,
                    name=self._new_session.name,
                    labels=self._new_session.labels,
                )
            self._new_session.ensured = True
        return await write(self.recorder)


_HOME_LOOP_TIMEOUT = 30.0  # seconds; a store's loop records an event in milliseconds


async def _on_loop(loop: asyncio.AbstractEventLoop, work: Coroutine[Any, Any, _T]) -> _T:
    # An async store's futures belong to its loop, so the recording is run there; this
    # loop, LangChain's for one callback, waits. If the store's loop is blocked by the
    # sync call that led here, it never gets to it: giving up beats hanging for good.
    if not loop.is_running():
        work.close()
        raise RuntimeError("the store's event loop is not running: record with ainvoke")
    future = asyncio.run_coroutine_threadsafe(work, loop)
    try:
        return await asyncio.wait_for(asyncio.wrap_future(future), _HOME_LOOP_TIMEOUT)
    except TimeoutError:
        raise RuntimeError(
            f"the store's event loop did not record the event in {_HOME_LOOP_TIMEOUT:.0f} s: "
            "is it blocked by a sync invoke? Use ainvoke there"
        ) from None


# What the handlers share: the runs under way, and turning LangChain's objects into JSON.


@dataclass(slots=True)
class _NewSession:
    name: str
    labels: dict[str, str]
    # Creating the session is tried once, at the first event: creating it in __init__
    # could not be awaited, and trying before every event would cost a write each.
    ensured: bool = False


@dataclass(frozen=True, slots=True)
class _Failure:
    call: Event | None  # the llm_request or tool_called the failure answers
    chain: str  # the failed chain's name; "" for a model or a tool


class _Runs:
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
class _Request:
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


def _chat_request(
    serialized: Mapping[str, Any] | None,
    messages: Sequence[Sequence[BaseMessage]],
    metadata: Mapping[str, Any] | None,
    options: Mapping[str, Any],
) -> _Request:
    # LangChain starts one run per conversation of a batch, so this is mostly one list.
    body: dict[str, Any] = {"messages": [_message(m) for batch in messages for m in batch]}
    return _request(serialized, metadata, options, body)


def _prompt_request(
    serialized: Mapping[str, Any] | None,
    prompts: Sequence[str],
    metadata: Mapping[str, Any] | None,
    options: Mapping[str, Any],
) -> _Request:
    return _request(serialized, metadata, options, {"prompts": list(prompts)})


def _request(
    serialized: Mapping[str, Any] | None,
    metadata: Mapping[str, Any] | None,
    options: Mapping[str, Any],
    body: dict[str, Any],
) -> _Request:
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
    return _Request(model, provider if isinstance(provider, str) else "", body)


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


def _answer(result: LLMResult) -> _Answer:
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


def _tool_call(
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


def _tool_output(output: Any) -> tuple[Any, dict[str, Any]]:
    # A tool called with a model's tool call returns a ToolMessage: its content is the
    # result (its artifact, meant for the program and not the model, is left out).
    if not isinstance(output, ToolMessage):
        return output, {}
    fields = {"status": output.status} if output.status != "success" else {}
    return output.content, fields


def _failed_tool(failure: _Failure, options: Mapping[str, Any]) -> str:
    if failure.call is not None:
        return failure.call.metadata.tool_name
    name = options.get("name")
    return name if isinstance(name, str) else ""


def _chain_name(serialized: Mapping[str, Any] | None, options: Mapping[str, Any]) -> str:
    name = options.get("name") or (serialized or {}).get("name")
    if isinstance(name, str) and name:
        return name
    path = (serialized or {}).get("id")
    return str(path[-1]) if isinstance(path, list) and path else "chain"
