"""The callback handlers: a sync one for a Store, an async one for an AsyncStore.

Both are thin shells over :class:`~agentstore.integrations.langchain.callbacks.Callbacks`,
which decides what each callback records: the sync handler makes that call on its
Recorder, the async one awaits it on its AsyncRecorder, on the store's event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from contextlib import suppress
from typing import Any
from uuid import UUID

from agentstore.errors import missing_extra

try:
    from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler
    from langchain_core.messages import BaseMessage
    from langchain_core.outputs import LLMResult
except ModuleNotFoundError as missing:
    raise missing_extra(missing, "langchain", "agentstore.integrations.langchain") from None

from agentstore.aio.loops import on_loop
from agentstore.aio.store import AsyncStore
from agentstore.errors import SessionExistsError
from agentstore.events import Event
from agentstore.integrations.langchain.callbacks import Callbacks, Write
from agentstore.recording import Recorder
from agentstore.recording.async_recorder import AsyncRecorder
from agentstore.store import Store

__all__ = ["AgentStoreCallbackHandler", "AsyncAgentStoreCallbackHandler"]


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
        InvalidArgumentError: ``name`` or ``labels`` could not name a session (labels
            must map non-empty str keys to str values).
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
        self._callbacks = Callbacks(name, labels)

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
        self._record(
            self._callbacks.chat_model_start(serialized, messages, run_id, metadata, kwargs)
        )

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
        self._record(self._callbacks.llm_start(serialized, prompts, run_id, metadata, kwargs))

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """Record the ``llm_response`` to the run's request, with its tokens and cost."""
        self._record(self._callbacks.llm_end(response, run_id))

    def on_llm_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Record an ``error`` answering the run's request."""
        self._record(self._callbacks.llm_error(error, run_id, parent_run_id))

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
        self._record(self._callbacks.tool_start(serialized, input_str, run_id, inputs, kwargs))

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Record the ``tool_result`` of the run's call, with how long it took."""
        self._record(self._callbacks.tool_end(output, run_id))

    def on_tool_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Record an ``error`` answering the run's call, with the tool's name."""
        self._record(self._callbacks.tool_error(error, run_id, parent_run_id, kwargs))

    def on_chain_start(
        self, serialized: dict[str, Any], inputs: dict[str, Any], *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Remember the chain's name, for the error it may end with; records nothing."""
        self._callbacks.chain_start(serialized, run_id, kwargs)

    def on_chain_end(self, outputs: dict[str, Any], *, run_id: UUID, **kwargs: Any) -> None:
        """Forget the chain; records nothing."""
        self._callbacks.chain_end(run_id)

    def on_chain_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Record an ``error`` naming the chain, unless a run inside it recorded it."""
        self._record(self._callbacks.chain_error(error, run_id, parent_run_id))

    def _record(self, write: Write | None) -> None:
        if write is not None:
            self._callbacks.recorded(write, write.to(self._recorder()))

    def _recorder(self) -> Recorder:
        new_session = self._callbacks.session_to_create()
        if new_session is not None:
            with suppress(SessionExistsError):
                self.store.create_session(
                    id=self.recorder.session_id, name=new_session.name, labels=new_session.labels
                )
            new_session.ensured = True
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
        InvalidArgumentError: ``name`` or ``labels`` could not name a session (labels
            must map non-empty str keys to str values).
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
        self._callbacks = Callbacks(name, labels)
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
        await self._record(
            self._callbacks.chat_model_start(serialized, messages, run_id, metadata, kwargs)
        )

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
        await self._record(self._callbacks.llm_start(serialized, prompts, run_id, metadata, kwargs))

    async def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """Record the ``llm_response`` to the run's request, with its tokens and cost."""
        await self._record(self._callbacks.llm_end(response, run_id))

    async def on_llm_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Record an ``error`` answering the run's request."""
        await self._record(self._callbacks.llm_error(error, run_id, parent_run_id))

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
        await self._record(
            self._callbacks.tool_start(serialized, input_str, run_id, inputs, kwargs)
        )

    async def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Record the ``tool_result`` of the run's call, with how long it took."""
        await self._record(self._callbacks.tool_end(output, run_id))

    async def on_tool_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Record an ``error`` answering the run's call, with the tool's name."""
        await self._record(self._callbacks.tool_error(error, run_id, parent_run_id, kwargs))

    async def on_chain_start(
        self, serialized: dict[str, Any], inputs: dict[str, Any], *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Remember the chain's name, for the error it may end with; records nothing."""
        self._callbacks.chain_start(serialized, run_id, kwargs)

    async def on_chain_end(self, outputs: dict[str, Any], *, run_id: UUID, **kwargs: Any) -> None:
        """Forget the chain; records nothing."""
        self._callbacks.chain_end(run_id)

    async def on_chain_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """Record an ``error`` naming the chain, unless a run inside it recorded it."""
        await self._record(self._callbacks.chain_error(error, run_id, parent_run_id))

    async def _record(self, write: Write | None) -> None:
        if write is not None:
            self._callbacks.recorded(write, await self._on_home_loop(write))

    async def _on_home_loop(self, write: Write) -> Event:
        here = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = here
        if self._loop is here:
            return await self._write(write)
        fix = "is it blocked by a sync invoke? Use ainvoke there"
        return await on_loop(self._loop, self._write(write), fix=fix, timeout=_HOME_LOOP_TIMEOUT)

    async def _write(self, write: Write) -> Event:
        new_session = self._callbacks.session_to_create()
        if new_session is not None:
            with suppress(SessionExistsError):
                await self.store.create_session(
                    id=self.recorder.session_id, name=new_session.name, labels=new_session.labels
                )
            new_session.ensured = True
        return await write.to(self.recorder)


_HOME_LOOP_TIMEOUT = 30.0  # seconds; a store's loop records an event in milliseconds
