"""The async face of the recorder: :class:`AsyncRecorder`, for an :class:`AsyncStore`.

The methods of :class:`agentstore.recording.Recorder`, with the same arguments, as
coroutines; the tool and LLM calls are async context managers, and a function decorated
with :meth:`AsyncRecorder.tool` is a coroutine function, sync or not before. Each drafts
its event with the same pure functions as the sync face and awaits its append.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
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

__all__ = ["AsyncLLMCall", "AsyncRecorder", "AsyncToolCall", "ToolDecorator"]

P = ParamSpec("P")
R = TypeVar("R")


class AsyncAppending(Protocol):
    """What an async recorder needs of its store (:class:`agentstore.aio.AsyncStore` has it)."""

    async def append(
        self, session_id: str, event: Event, *, expected_seq: int | None = None
    ) -> Event:
        """Append ``event`` to a session and return it as stored."""


class AsyncRecorder(RecorderSettings):
    """Records one session's events: ``async_store.recorder(session_id)``.

    The arguments are :class:`agentstore.recording.Recorder`'s; every method raises what
    :meth:`agentstore.aio.AsyncStore.append` raises.
    """

    __slots__ = ()
    store: AsyncAppending

    def __init__(
        self, store: AsyncAppending, session_id: str, *, worker_id: str = "", price: bool = True
    ) -> None:
        super().__init__(store, session_id, worker_id=worker_id, price=price)

    async def record(
        self,
        type: str,
        payload: Any = None,
        *,
        metadata: Metadata | None = None,
        cause: Event | None = None,
    ) -> Event:
        """See :meth:`agentstore.recording.Recorder.record`."""
        return await self._append((type, payload, drafts.with_cause(metadata, cause)))

    async def user_message(self, content: Any, **fields: Any) -> Event:
        """See :meth:`agentstore.recording.Recorder.user_message`."""
        return await self._append(drafts.user_message_draft(content, fields, self.worker_id))

    async def plan(self, steps: Any, **fields: Any) -> Event:
        """See :meth:`agentstore.recording.Recorder.plan`."""
        return await self._append(drafts.plan_draft(steps, fields, self.worker_id))

    async def state(self, data: Mapping[str, Any]) -> Event:
        """See :meth:`agentstore.recording.Recorder.state`."""
        return await self._append(drafts.state_draft(data, self.worker_id))

    async def error(
        self,
        error: BaseException | str,
        *,
        tool_name: str = "",
        cause: Event | None = None,
        duration_ms: float | None = None,
        **fields: Any,
    ) -> Event:
        """See :meth:`agentstore.recording.Recorder.error`."""
        return await self._append(self._error_draft(error, tool_name, cause, duration_ms, fields))

    async def tool_called(self, name: str, arguments: Any = None, **fields: Any) -> Event:
        """See :meth:`agentstore.recording.Recorder.tool_called`."""
        return await self._append(drafts.tool_called_draft(name, arguments, fields, self.worker_id))

    async def tool_result(
        self, called: Event, result: Any = None, *, duration_ms: float | None = None, **fields: Any
    ) -> Event:
        """See :meth:`agentstore.recording.Recorder.tool_result`."""
        draft = drafts.tool_result_draft(called, result, duration_ms, fields, self.worker_id)
        return await self._append(draft)

    async def llm_request(
        self, model: str = "", request: Any = None, *, provider: str = "", **fields: Any
    ) -> Event:
        """See :meth:`agentstore.recording.Recorder.llm_request`."""
        draft = drafts.llm_request_draft(model, request, provider, fields, self.worker_id)
        return await self._append(draft)

    async def llm_response(
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
        """See :meth:`agentstore.recording.Recorder.llm_response`."""
        facts = dict(locals())  # the keywords above, by name, as the draft takes them
        del facts["self"], facts["request"], facts["response"], facts["fields"]
        return await self._append(self._response_draft(request, response, **facts, **fields))

    def tool_call(self, name: str, arguments: Any = None) -> AsyncToolCall:
        """An async context manager around a tool call (see ``Recorder.tool_call``)."""
        return AsyncToolCall(self, name, arguments)

    def llm_call(self, model: str = "", request: Any = None, *, provider: str = "") -> AsyncLLMCall:
        """An async context manager around an LLM call (see ``Recorder.llm_call``)."""
        return AsyncLLMCall(self, model, request, provider)

    @overload
    def tool(self, function: Callable[P, Awaitable[R]], /) -> Callable[P, Awaitable[R]]: ...
    @overload
    def tool(self, function: Callable[P, R], /) -> Callable[P, Awaitable[R]]: ...
    @overload
    def tool(self, /, *, name: str | None = None) -> ToolDecorator: ...
    def tool(self, function: Any = None, /, *, name: str | None = None) -> Any:
        """Decorate a function so that every call is recorded as a tool call.

        What is recorded is what :meth:`agentstore.recording.Recorder.tool` records. The
        decorated function is always a coroutine function, since recording awaits the
        store: a sync function becomes one too, so its calls must be awaited (it still
        runs on the event loop's thread, as it would if called there directly). A sync
        function that returns an awaitable (a callable hiding a coroutine) has it awaited
        inside the call, so the recorded result and duration are the work's.
        """

        def decorate(target: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
            return _recorded(self, target, name or target.__name__)

        return decorate if function is None else decorate(function)

    async def _append(self, draft: Draft) -> Event:
        try:
            return await self.store.append(self.session_id, draft_event(draft))
        except InvalidEventError as error:
            return await self.store.append(self.session_id, json_fallback(draft, error))


class ToolDecorator(Protocol):
    """What ``AsyncRecorder.tool(name=...)`` returns: it decorates sync and async functions."""

    @overload
    def __call__(self, function: Callable[P, Awaitable[R]], /) -> Callable[P, Awaitable[R]]: ...
    @overload
    def __call__(self, function: Callable[P, R], /) -> Callable[P, Awaitable[R]]: ...


def _recorded(
    recorder: AsyncRecorder, target: Callable[..., Any], name: str
) -> Callable[..., Awaitable[Any]]:
    signature = signature_of(target)

    # One wrapper for both kinds: a coroutine function's call returns an awaitable, a sync
    # function's its result (or, for a callable hiding a coroutine, an awaitable too).
    @functools.wraps(target)
    async def run(*args: Any, **kwargs: Any) -> Any:
        async with recorder.tool_call(name, drafts.tool_arguments(signature, args, kwargs)) as call:
            result = target(*args, **kwargs)
            return call.set_result(await result if inspect.isawaitable(result) else result)

    return run


class _AsyncScope(CallScope):
    """Entering and leaving a call on an async recorder: its events' appends awaited."""

    __slots__ = ()
    _recorder: AsyncRecorder

    async def __aenter__(self) -> Self:
        self._begin(await self._recorder._append(self._opening()))
        return self

    async def __aexit__(self, kind: object, error: BaseException | None, traceback: object) -> None:
        draft = self._closing(error)
        if draft is not None:
            self.outcome = await self._recorder._append(draft)


class AsyncToolCall(_AsyncScope, ToolCallScope):
    """A tool call being recorded (see :meth:`AsyncRecorder.tool_call`)."""

    __slots__ = ()


class AsyncLLMCall(_AsyncScope, LLMCallScope):
    """An LLM call being recorded (see :meth:`AsyncRecorder.llm_call`)."""

    __slots__ = ()
