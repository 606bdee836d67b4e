"""The callback handlers: a sync one for a Store, an async one for an AsyncStore."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from typing import Any, TypeVar
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult

from agentstore.aio.loops import on_loop
from agentstore.aio.store import AsyncStore
from agentstore.errors import SessionExistsError
from agentstore.events import Event
from agentstore.integrations.langchain.runs import (
    NewSession,
    Runs,
    chain_name,
    chat_request,
    failed_tool,
    prompt_request,
    read_answer,
    tool_call,
    tool_output,
)
from agentstore.recording import Recorder
from agentstore.recording.async_recorder import AsyncRecorder
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
        self.store = store
        self.recorder = store.recorder(session_id, worker_id=worker_id)
        self.raise_error = raise_error
        self._new_session = NewSession(name, dict(labels or {}))
        self._runs = Runs()

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
        request = chat_request(serialized, messages, metadata, kwargs)
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
        request = prompt_request(serialized, prompts, metadata, kwargs)
        event = self._recorder().llm_request(request.model, request.body, provider=request.provider)
        self._runs.call_started(run_id, event)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """Record the ``llm_response`` to the run's request, with its tokens and cost."""
        answer = read_answer(response)
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
        call = tool_call(serialized, input_str, inputs, kwargs)
        event = self._recorder().tool_called(call.name, call.arguments, **call.fields)
        self._runs.call_started(run_id, event)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Record the ``tool_result`` of the run's call, with how long it took."""
        called = self._runs.ended(run_id)
        if called is not None:  # else recording the call failed, and was reported then
            result, fields = tool_output(output)
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
            name = failed_tool(failure, kwargs)
            self._recorder().error(error, tool_name=name, cause=failure.call)

    def on_chain_start(
        self, serialized: dict[str, Any], inputs: dict[str, Any], *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Remember the chain's name, for the error it may end with; records nothing."""
        self._runs.chain_started(run_id, chain_name(serialized, kwargs))

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
                self.store.create_session(
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
        self.store = store
        self.recorder = store.recorder(session_id, worker_id=worker_id)
        self.raise_error = raise_error
        self._new_session = NewSession(name, dict(labels or {}))
        self._runs = Runs()
        self._loop: asyncio.AbstractEventLoop | None = store.loop
        if self._loop is None:
            with suppress(RuntimeError):  # made outside a loop: its first callback tells
                self._loop = asyncio.get_running_loop()

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
        request = chat_request(serialized, messages, metadata, kwargs)
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
        request = prompt_request(serialized, prompts, metadata, kwargs)
        event = await self._record(
            lambda recorder: recorder.llm_request(
                request.model, request.body, provider=request.provider
            )
        )
        self._runs.call_started(run_id, event)

    async def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """Record the ``llm_response`` to the run's request, with its tokens and cost."""
        answer = read_answer(response)
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
        call = tool_call(serialized, input_str, inputs, kwargs)
        event = await self._record(
            lambda recorder: recorder.tool_called(call.name, call.arguments, **call.fields)
        )
        self._runs.call_started(run_id, event)

    async def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Record the ``tool_result`` of the run's call, with how long it took."""
        called = self._runs.ended(run_id)
        if called is not None:  # else recording the call failed, and was reported then
            result, fields = tool_output(output)
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
            name = failed_tool(failure, kwargs)
            await self._record(
                lambda recorder: recorder.error(error, tool_name=name, cause=failure.call)
            )

    async def on_chain_start(
        self, serialized: dict[str, Any], inputs: dict[str, Any], *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Remember the chain's name, for the error it may end with; records nothing."""
        self._runs.chain_started(run_id, chain_name(serialized, kwargs))

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
        fix = "is it blocked by a sync invoke? Use ainvoke there"
        return await on_loop(self._loop, self._write(write), fix=fix, timeout=_HOME_LOOP_TIMEOUT)

    async def _write(self, write: Callable[[AsyncRecorder], Awaitable[Event]]) -> Event:
        if not self._new_session.ensured:
            with suppress(SessionExistsError):
                await self.store.create_session(
                    id=self.recorder.session_id,
                    name=self._new_session.name,
                    labels=self._new_session.labels,
                )
            self._new_session.ensured = True
        return await write(self.recorder)


_HOME_LOOP_TIMEOUT = 30.0  # seconds; a store's loop records an event in milliseconds
