"""Recording an agent's work in one line: messages, plans, tool calls, LLM calls, state.

A :class:`Recorder` writes the events of one session with the payload and metadata shapes
the timeline, the stats and the default reducer read. The drafts (type, payload,
metadata) are built by the pure functions of :mod:`agentstore.drafts`, so the sync
:class:`Recorder` and :class:`agentstore.aio.recording.AsyncRecorder` differ only in how
they append.

Events that answer another name it in ``metadata.cause_id``: a ``tool_result`` its
``tool_called``, an ``llm_response`` its ``llm_request``, an ``error`` the call that failed.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

from agentstore.drafts import (
    CALLER,
    Draft,
    error_draft,
    llm_request_draft,
    llm_response_draft,
    payload_error,
    plan_draft,
    state_draft,
    to_json,
    tool_arguments,
    tool_called_draft,
    tool_result_draft,
    user_message_draft,
    with_cause,
)
from agentstore.errors import InvalidEventError
from agentstore.events import Event, Metadata, new_event

if TYPE_CHECKING:
    from agentstore.store import Store

__all__ = ["CALLER", "CallScope", "LLMCall", "Recorder", "ToolCall", "to_json"]

P = ParamSpec("P")
R = TypeVar("R")


# -- the sync recorder -------------------------------------------------------------------


class Recorder:
    """Records one session's events: ``store.recorder(session_id)``.

    Args:
        store: the store to append to.
        session_id: the session (it must exist).
        worker_id: recorded in every event's metadata, if given.
        price: price LLM calls from their tokens when no cost is given (needs the
            ``prices`` extra).

    Every method raises what :meth:`agentstore.Store.append` raises: SessionNotFoundError,
    InvalidEventError (a value that cannot be stored even as JSON), StorageError,
    StoreClosedError.
    """

    __slots__ = ("_price", "session_id", "store", "worker_id")

    def __init__(
        self, store: Store, session_id: str, *, worker_id: str = "", price: bool = True
    ) -> None:
        self.store = store
        self.session_id = session_id
        self.worker_id = worker_id
        self._price = price

    def record(
        self,
        type: str,
        payload: Any = None,
        *,
        metadata: Metadata | None = None,
        cause: Event | None = None,
    ) -> Event:
        """Append an event of any type; ``cause`` is the event it answers, if any."""
        return self._append((type, payload, with_cause(metadata, cause)))

    def user_message(self, content: Any, **fields: Any) -> Event:
        """Record what the user said: ``user_message`` ``{"content": ..., **fields}``."""
        return self._append(user_message_draft(content, fields, self.worker_id))

    def plan(self, steps: Any, **fields: Any) -> Event:
        """Record a plan: ``plan_created`` ``{"steps": [...], **fields}``."""
        return self._append(plan_draft(steps, fields, self.worker_id))

    def state(self, data: Mapping[str, Any]) -> Event:
        """Record the agent's own state: ``state_updated`` with ``data`` as payload."""
        return self._append(state_draft(data, self.worker_id))

    def error(
        self,
        error: BaseException | str,
        *,
        tool_name: str = "",
        cause: Event | None = None,
        duration_ms: float | None = None,
        **fields: Any,
    ) -> Event:
        """Record a failure: ``error`` with the message, the exception's type and the tool."""
        return self._append(
            error_draft(
                error,
                tool_name=tool_name,
                cause=cause,
                duration_ms=duration_ms,
                fields=fields,
                worker=self.worker_id,
            )
        )

    def tool_called(self, name: str, arguments: Any = None, **fields: Any) -> Event:
        """Record a tool call starting; answer it with :meth:`tool_result` or :meth:`error`."""
        return self._append(tool_called_draft(name, arguments, fields, self.worker_id))

    def tool_result(
        self, called: Event, result: Any = None, *, duration_ms: float | None = None, **fields: Any
    ) -> Event:
        """Record what the tool call ``called`` returned.

        ``duration_ms`` defaults to the time since ``called`` was stored.
        """
        return self._append(tool_result_draft(called, result, duration_ms, fields, self.worker_id))

    def llm_request(
        self, model: str = "", request: Any = None, *, provider: str = "", **fields: Any
    ) -> Event:
        """Record an LLM call starting; answer it with :meth:`llm_response` or :meth:`error`."""
        return self._append(llm_request_draft(model, request, provider, fields, self.worker_id))

    def llm_response(
        self,
        request: Event | None = None,
        response: Any = None,
        *,
        content: Any = None,
        model: str | None = None,
        provider: str | None = None,
        tokens_in: int | None = None,
        tokens_out: int | None = None,
        cache_read_tokens: int | None = None,
        cache_write_tokens: int | None = None,
        cost_usd: float | None = None,
        duration_ms: float | None = None,
        **fields: Any,
    ) -> Event:
        """Record an LLM's answer, with its model, tokens, duration and cost.

        Args:
            request: the ``llm_request`` this answers (its model and provider are the
                defaults; the duration defaults to the time since it was stored).
            response: the client's response object (OpenAI Chat Completions or Responses,
                Anthropic Messages, or their dicts): model, provider, tokens and text
                are read from it.
            content, model, provider, tokens_in, tokens_out, cache_read_tokens,
            cache_write_tokens, cost_usd, duration_ms: override what ``response`` says.
            fields: more payload keys.
        """
        given = {
            "content": content,
            "model": model,
            "provider": provider,
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "cache_read_tokens": cache_read_tokens,
            "cache_write_tokens": cache_write_tokens,
            "cost_usd": cost_usd,
            "duration_ms": duration_ms,
        }
        return self._append(
            llm_response_draft(
                request, response, given, fields, worker=self.worker_id, priced=self._price
            )
        )

    def tool_call(self, name: str, arguments: Any = None) -> ToolCall:
        """A context manager around a tool call.

        Entering records ``tool_called``; leaving records ``tool_result`` with the value
        given to :meth:`ToolCall.set_result` and the duration, or, if the block raised,
        an ``error`` with the exception's type and message (the exception propagates).
        """
        return ToolCall(self, name, arguments)

    def llm_call(self, model: str = "", request: Any = None, *, provider: str = "") -> LLMCall:
        """A context manager around an LLM call.

        Entering records ``llm_request``; leaving records ``llm_response`` from what was
        given to :meth:`LLMCall.set_response`, with the duration, or an ``error`` if the
        block raised (the exception propagates).
        """
        return LLMCall(self, model, request, provider)

    @overload
    def tool(self, function: Callable[P, R], /) -> Callable[P, R]: ...
    @overload
    def tool(self, /, *, name: str | None = None) -> Callable[[Callable[P, R]], Callable[P, R]]: ...
    def tool(self, function: Any = None, /, *, name: str | None = None) -> Any:
        """Decorate a sync or async function so that every call is recorded as a tool call.

        The arguments are recorded by parameter name; the return value as the result;
        an exception as an ``error`` event, then re-raised. ``name`` defaults to the
        function's name.
        """

        def decorate(target: Callable[..., Any]) -> Callable[..., Any]:
            return _recorded(self.tool_call, target, name or target.__name__)

        return decorate if function is None else decorate(function)

    def _append(self, draft: Draft) -> Event:
        kind, payload, metadata = draft
        append = self.store.append
        try:
            return append(self.session_id, new_event(kind, payload, metadata=metadata))
        except InvalidEventError as error:
            if not payload_error(error):
                raise
        return append(self.session_id, new_event(kind, to_json(payload), metadata=metadata))


def _recorded(
    open_call: Callable[[str, Any], ToolCall], target: Callable[..., Any], name: str
) -> Callable[..., Any]:
    try:
        signature: inspect.Signature | None = inspect.signature(target)
    except (TypeError, ValueError):
        signature = None
    if inspect.iscoroutinefunction(target):

        @functools.wraps(target)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            with open_call(name, tool_arguments(signature, args, kwargs)) as call:
                return call.set_result(await target(*args, **kwargs))

        return run_async

    @functools.wraps(target)
    def run(*args: Any, **kwargs: Any) -> Any:
        with open_call(name, tool_arguments(signature, args, kwargs)) as call:
            return call.set_result(target(*args, **kwargs))

    return run


class CallScope:
    """What the tool and LLM call context managers share: timing and the outcome."""

    __slots__ = ("_started", "outcome", "started")

    def __init__(self) -> None:
        self.started: Event | None = None
        """The ``tool_called`` or ``llm_request`` event, once entered."""
        self.outcome: Event | None = None
        """The ``tool_result``, ``llm_response`` or ``error`` event, once left."""
        self._started = 0.0

    def _begin(self, event: Event) -> None:
        self.started = event
        self._started = time.perf_counter()

    def _elapsed_ms(self) -> float:
        return (time.perf_counter() - self._started) * 1000

    def _started_event(self) -> Event:
        if self.started is None:
            raise RuntimeError("the call was not entered")
        return self.started


class ToolCall(CallScope):
    """A tool call being recorded (see :meth:`Recorder.tool_call`)."""

    __slots__ = ("_recorder", "arguments", "name", "result")

    def __init__(self, recorder: Recorder, name: str, arguments: Any) -> None:
        super().__init__()
        self._recorder = recorder
        self.name = name
        self.arguments = arguments
        self.result: Any = None

    def set_result(self, result: R) -> R:
        """Set what the tool returned (recorded on leaving); returns ``result``."""
        self.result = result
        return result

    def __enter__(self) -> ToolCall:
        self._begin(self._recorder.tool_called(self.name, self.arguments))
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        called = self._started_event()
        elapsed = self._elapsed_ms()
        if error is None:
            self.outcome = self._recorder.tool_result(called, self.result, duration_ms=elapsed)
        elif not isinstance(error, GeneratorExit):
            self.outcome = self._recorder.error(
                error, tool_name=self.name, cause=called, duration_ms=elapsed
            )


class LLMCall(CallScope):
    """An LLM call being recorded (see :meth:`Recorder.llm_call`)."""

    __slots__ = ("_given", "_recorder", "_response", "model", "provider", "request")

    def __init__(self, recorder: Recorder, model: str, request: Any, provider: str) -> None:
        super().__init__()
        self._recorder = recorder
        self.model = model
        self.request = request
        self.provider = provider
        self._response: Any = None
        self._given: dict[str, Any] = {}

    def set_response(self, response: Any = None, **given: Any) -> None:
        """Give the client's response and any facts to record (see
        :meth:`Recorder.llm_response` for the keywords)."""
        self._response = response
        self._given = given

    def __enter__(self) -> LLMCall:
        recorder = self._recorder
        self._begin(recorder.llm_request(self.model, self.request, provider=self.provider))
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        request = self._started_event()
        elapsed = self._elapsed_ms()
        if error is None:
            given = {"duration_ms": elapsed, **self._given}
            self.outcome = self._recorder.llm_response(request, self._response, **given)
        elif not isinstance(error, GeneratorExit):
            self.outcome = self._recorder.error(error, cause=request, duration_ms=elapsed)
