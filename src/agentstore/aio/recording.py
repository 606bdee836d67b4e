"""The async twin of :class:`agentstore.recording.Recorder`, for an :class:`AsyncStore`.

The same methods with the same arguments, as coroutines; the tool and LLM calls are
async context managers, and :meth:`AsyncRecorder.tool` decorates coroutine functions.
The events are drafted by the same pure functions as the sync recorder's.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

from agentstore.drafts import (
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
from agentstore.recording import CallScope

if TYPE_CHECKING:
    from agentstore.aio.store import AsyncStore

__all__ = ["AsyncLLMCall", "AsyncRecorder", "AsyncToolCall"]

P = ParamSpec("P")
R = TypeVar("R")


class AsyncRecorder:
    """Records one session's events: ``async_store.recorder(session_id)``.

    Args:
        store: the async store to append to.
        session_id: the session (it must exist).
        worker_id: recorded in every event's metadata, if given.
        price: price LLM calls from their tokens when no cost is given (needs the
            ``prices`` extra).

    Every method raises what :meth:`agentstore.aio.AsyncStore.append` raises.
    """

    __slots__ = ("_price", "session_id", "store", "worker_id")

    def __init__(
        self, store: AsyncStore, session_id: str, *, worker_id: str = "", price: bool = True
    ) -> None:
        self.store = store
        self.session_id = session_id
        self.worker_id = worker_id
        self._price = price

    async def record(
        self,
        type: str,
        payload: Any = None,
        *,
        metadata: Metadata | None = None,
        cause: Event | None = None,
    ) -> Event:
        """Append an event of any type; ``cause`` is the event it answers, if any."""
        return await self._append((type, payload, with_cause(metadata, cause)))

    async def user_message(self, content: Any, **fields: Any) -> Event:
        """Record what the user said: ``user_message`` ``{"content": ..., **fields}``."""
        return await self._append(user_message_draft(content, fields, self.worker_id))

    async def plan(self, steps: Any, **fields: Any) -> Event:
        """Record a plan: ``plan_created`` ``{"steps": [...], **fields}``."""
        return await self._append(plan_draft(steps, fields, self.worker_id))

    async def state(self, data: Mapping[str, Any]) -> Event:
        """Record the agent's own state: ``state_updated`` with ``data`` as payload."""
        return await self._append(state_draft(data, self.worker_id))

    async def error(
        self,
        error: BaseException | str,
        *,
        tool_name: str = "",
        cause: Event | None = None,
        duration_ms: float | None = None,
        **fields: Any,
    ) -> Event:
        """Record a failure: ``error`` with the message, the exception's type and the tool."""
        return await self._append(
            error_draft(
                error,
                tool_name=tool_name,
                cause=cause,
                duration_ms=duration_ms,
                fields=fields,
                worker=self.worker_id,
            )
        )

    async def tool_called(self, name: str, arguments: Any = None, **fields: Any) -> Event:
        """Record a tool call starting; answer it with :meth:`tool_result` or :meth:`error`."""
        return await self._append(tool_called_draft(name, arguments, fields, self.worker_id))

    async def tool_result(
        self, called: Event, result: Any = None, *, duration_ms: float | None = None, **fields: Any
    ) -> Event:
        """Record what the tool call ``called`` returned.

        ``duration_ms`` defaults to the time since ``called`` was stored.
        """
        draft = tool_result_draft(called, result, duration_ms, fields, self.worker_id)
        return await self._append(draft)

    async def llm_request(
        self, model: str = "", request: Any = None, *, provider: str = "", **fields: Any
    ) -> Event:
        """Record an LLM call starting; answer it with :meth:`llm_response` or :meth:`error`."""
        return await self._append(
            llm_request_draft(model, request, provider, fields, self.worker_id)
        )

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
        """Record an LLM's answer, with its model, tokens, duration and cost.

        The arguments are :meth:`agentstore.recording.Recorder.llm_response`'s.
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
        return await self._append(
            llm_response_draft(
                request, response, given, fields, worker=self.worker_id, priced=self._price
            )
        )

    def tool_call(self, name: str, arguments: Any = None) -> AsyncToolCall:
        """An async context manager around a tool call (see ``Recorder.tool_call``)."""
        return AsyncToolCall(self, name, arguments)

    def llm_call(self, model: str = "", request: Any = None, *, provider: str = "") -> AsyncLLMCall:
        """An async context manager around an LLM call (see ``Recorder.llm_call``)."""
        return AsyncLLMCall(self, model, request, provider)

    @overload
    def tool(self, function: Callable[P, Awaitable[R]], /) -> Callable[P, Awaitable[R]]: ...
    @overload
    def tool(
        self, /, *, name: str | None = None
    ) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]: ...
    def tool(self, function: Any = None, /, *, name: str | None = None) -> Any:
        """Decorate a coroutine function so that every call is recorded as a tool call.

        Raises:
            TypeError: the function is not a coroutine function. Recording awaits the
                store, so a sync function would have to become a coroutine function;
                use the sync :class:`~agentstore.recording.Recorder` for it instead.
        """

        def decorate(target: Callable[..., Any]) -> Callable[..., Any]:
            if not inspect.iscoroutinefunction(target):
                raise TypeError(
                    f"{target.__qualname__} is not an async function: an AsyncRecorder "
                    "records async tools; record sync ones with a sync Recorder"
                )
            return _recorded(self.tool_call, target, name or target.__name__)

        return decorate if function is None else decorate(function)

    async def _append(self, draft: Draft) -> Event:
        kind, payload, metadata = draft
        append = self.store.append
        try:
            return await append(self.session_id, new_event(kind, payload, metadata=metadata))
        except InvalidEventError as error:
            if not payload_error(error):
                raise
        return await append(self.session_id, new_event(kind, to_json(payload), metadata=metadata))


def _recorded(
    open_call: Callable[[str, Any], AsyncToolCall],
    target: Callable[..., Awaitable[Any]],
    name: str,
) -> Callable[..., Awaitable[Any]]:
    try:
        signature: inspect.Signature | None = inspect.signature(target)
    except (TypeError, ValueError):
        signature = None

    @functools.wraps(target)
    async def run(*args: Any, **kwargs: Any) -> Any:
        async with open_call(name, tool_arguments(signature, args, kwargs)) as call:
            return call.set_result(await target(*args, **kwargs))

    return run


class AsyncToolCall(CallScope):
    """A tool call being recorded (see :meth:`AsyncRecorder.tool_call`)."""

    __slots__ = ("_recorder", "arguments", "name", "result")

    def __init__(self, recorder: AsyncRecorder, name: str, arguments: Any) -> None:
        super().__init__()
        self._recorder = recorder
        self.name = name
        self.arguments = arguments
        self.result: Any = None

    def set_result(self, result: R) -> R:
        """Set what the tool returned (recorded on leaving); returns ``result``."""
        self.result = result
        return result

    async def __aenter__(self) -> AsyncToolCall:
        self._begin(await self._recorder.tool_called(self.name, self.arguments))
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        called = self._started_event()
        elapsed = self._elapsed_ms()
        recorder = self._recorder
        if error is None:
            self.outcome = await recorder.tool_result(called, self.result, duration_ms=elapsed)
        elif not isinstance(error, GeneratorExit):
            self.outcome = await recorder.error(
                error, tool_name=self.name, cause=called, duration_ms=elapsed
            )


class AsyncLLMCall(CallScope):
    """An LLM call being recorded (see :meth:`AsyncRecorder.llm_call`)."""

    __slots__ = ("_given", "_recorder", "_response", "model", "provider", "request")

    def __init__(self, recorder: AsyncRecorder, model: str, request: Any, provider: str) -> None:
        super().__init__()
        self._recorder = recorder
        self.model = model
        self.request = request
        self.provider = provider
        self._response: Any = None
        self._given: dict[str, Any] = {}

    def set_response(self, response: Any = None, **given: Any) -> None:
        """Give the client's response and any facts to record (see
        :meth:`AsyncRecorder.llm_response` for the keywords)."""
        self._response = response
        self._given = given

    async def __aenter__(self) -> AsyncLLMCall:
        recorder = self._recorder
        self._begin(await recorder.llm_request(self.model, self.request, provider=self.provider))
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        request = self._started_event()
        elapsed = self._elapsed_ms()
        if error is None:
            given = {"duration_ms": elapsed, **self._given}
            self.outcome = await self._recorder.llm_response(request, self._response, **given)
        elif not isinstance(error, GeneratorExit):
            self.outcome = await self._recorder.error(error, cause=request, duration_ms=elapsed)
