"""Recording an agent's work in one line: messages, plans, tool calls, LLM calls, state.

A :class:`Recorder` writes the events of one session with the payload and metadata shapes
the timeline, the stats and the default reducer read. It is the sync face: each method
drafts its event with the pure functions of :mod:`agentstore.recording.drafts` and
:mod:`agentstore.recording.calls`, which :class:`agentstore.aio.AsyncRecorder` shares,
and appends it.

Events that answer another name it in ``metadata.cause_id``: a ``tool_result`` its
``tool_called``, an ``llm_response`` its ``llm_request``, an ``error`` the call that failed.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, Protocol, Self, TypeVar, overload

from agentstore.errors import InvalidEventError
from agentstore.events import Event, Metadata
from agentstore.recording import drafts
from agentstore.recording.calls import (
    CallScope,
    LLMCallScope,
    RecorderSettings,
    ToolCallScope,
    draft_event,
    json_fallback,
    signature_of,
)
from agentstore.recording.drafts import Draft

__all__ = ["LLMCall", "Recorder", "ToolCall"]

P = ParamSpec("P")
R = TypeVar("R")


class Appending(Protocol):
    """What a recorder needs of its store (:class:`agentstore.Store` has it)."""

    def append(self, session_id: str, event: Event, *, expected_seq: int | None = None) -> Event:
        """Append ``event`` to a session and return it as stored."""


class Recorder(RecorderSettings):
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

    __slots__ = ()
    store: Appending

    def __init__(
        self, store: Appending, session_id: str, *, worker_id: str = "", price: bool = True
    ) -> None:
        super().__init__(store, session_id, worker_id=worker_id, price=price)

    def record(
        self,
        type: str,
        payload: Any = None,
        *,
        metadata: Metadata | None = None,
        cause: Event | None = None,
    ) -> Event:
        """Append an event of any type; ``cause`` is the event it answers, if any."""
        return self._append((type, payload, drafts.with_cause(metadata, cause)))

    def user_message(self, content: Any, **fields: Any) -> Event:
        """Record what the user said: ``user_message`` ``{"content": ..., **fields}``."""
        return self._append(drafts.user_message_draft(content, fields, self.worker_id))

    def plan(self, steps: Any, **fields: Any) -> Event:
        """Record a plan: ``plan_created`` ``{"steps": [...], **fields}``."""
        return self._append(drafts.plan_draft(steps, fields, self.worker_id))

    def state(self, data: Mapping[str, Any]) -> Event:
        """Record the agent's own state: ``state_updated`` with ``data`` as payload."""
        return self._append(drafts.state_draft(data, self.worker_id))

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
        return self._append(self._error_draft(error, tool_name, cause, duration_ms, fields))

    def tool_called(self, name: str, arguments: Any = None, **fields: Any) -> Event:
        """Record a tool call starting; answer it with :meth:`tool_result` or :meth:`error`."""
        return self._append(drafts.tool_called_draft(name, arguments, fields, self.worker_id))

    def tool_result(
        self, called: Event, result: Any = None, *, duration_ms: float | None = None, **fields: Any
    ) -> Event:
        """Record what the tool call ``called`` returned.

        ``duration_ms`` defaults to the time since ``called`` was stored.
        """
        return self._append(
            drafts.tool_result_draft(called, result, duration_ms, fields, self.worker_id)
        )

    def llm_request(
        self, model: str = "", request: Any = None, *, provider: str = "", **fields: Any
    ) -> Event:
        """Record an LLM call starting; answer it with :meth:`llm_response` or :meth:`error`."""
        return self._append(
            drafts.llm_request_draft(model, request, provider, fields, self.worker_id)
        )

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
                Anthropic Messages, Gemini ``GenerateContentResponse``, or their dicts):
                model, provider, tokens and text are read from it. Anything else is kept
                (a string as the content, an object as JSON under ``"response"``) and,
                unless tokens or a cost are given, recorded as a call of unknown usage
                (``cost_source="unknown"``), which the state counts apart.
            content, model, provider, tokens_in, tokens_out, cache_read_tokens,
            cache_write_tokens, cost_usd, duration_ms: override what ``response`` says.
            fields: more payload keys.
        """
        facts = dict(locals())  # the keywords above, by name, as the draft takes them
        del facts["self"], facts["request"], facts["response"], facts["fields"]
        return self._append(self._response_draft(request, response, **facts, **fields))

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

        The arguments are recorded by parameter name, but for a method's ``self`` and a
        classmethod's ``cls``; the return value as the result; an exception as an
        ``error`` event, then re-raised. ``name`` defaults to the function's name.
        """

        def decorate(target: Callable[..., Any]) -> Callable[..., Any]:
            return _recorded(self, target, name or target.__name__)

        return decorate if function is None else decorate(function)

    def _append(self, draft: Draft) -> Event:
        try:
            return self.store.append(self.session_id, draft_event(draft))
        except InvalidEventError as error:
            return self.store.append(self.session_id, json_fallback(draft, error))


def _recorded(recorder: Recorder, target: Callable[..., Any], name: str) -> Callable[..., Any]:
    signature = signature_of(target)
    if inspect.iscoroutinefunction(target):

        @functools.wraps(target)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            with recorder.tool_call(name, drafts.tool_arguments(signature, args, kwargs)) as call:
                return call.set_result(await target(*args, **kwargs))

        return run_async

    @functools.wraps(target)
    def run(*args: Any, **kwargs: Any) -> Any:
        with recorder.tool_call(name, drafts.tool_arguments(signature, args, kwargs)) as call:
            return call.set_result(target(*args, **kwargs))

    return run


class _Scope(CallScope):
    """Entering and leaving a call on a sync recorder: its events appended directly."""

    __slots__ = ()
    _recorder: Recorder

    def __enter__(self) -> Self:
        self._begin(self._recorder._append(self._opening()))
        return self

    def __exit__(self, kind: object, error: BaseException | None, traceback: object) -> None:
        draft = self._closing(error)
        if draft is not None:
            self.outcome = self._recorder._append(draft)


class ToolCall(_Scope, ToolCallScope):
    """A tool call being recorded (see :meth:`Recorder.tool_call`)."""

    __slots__ = ()


class LLMCall(_Scope, LLMCallScope):
    """An LLM call being recorded (see :meth:`Recorder.llm_call`)."""

    __slots__ = ()
